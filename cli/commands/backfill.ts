import { MultiBar, Presets } from 'cli-progress';
import { Command, InvalidArgumentError, type Option } from 'commander';
import { createSiteClients, clientFor } from '../../clients/s3';
import { connectTemporal } from '../../clients/temporal';
import type { EngineConfig } from '../../config/engine-config';
import {
  backfillStatus,
  cancelBackfills,
  listBackfills,
  sitesOfBucketRules,
  startBackfills,
  type BackfillStatus,
} from '../../operations/backfill';
import { diffBucket } from '../../operations/diff';
import { reportedCount, type BackfillProgress } from '../../shared/backfill';

/** The options naming what a backfill or a diff covers. */
interface BucketScope {
  bucket: string;
  sourceSite?: string;
  site?: string;
  prefix: string;
  config: string;
}

export interface CliHelpers {
  out: (line: string) => void;
  configOption: () => Option;
  readConfig: (file: string) => EngineConfig;
}

const positive = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`${name} must be a positive number (got "${value}")`);
  return n;
};

function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '?';
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** One line a person reads: where the backfill is. */
export function describeBackfill(b: BackfillStatus): string {
  const r = b.request;
  const p = b.progress;
  const what = r ? `s3://${r.bucket}/${r.prefix} → ${r.site}` : b.workflowId;
  if (!p) return `${what}: ${b.runStatus.toLowerCase()}, not started yet`;
  const total = p.totalVersions !== undefined ? ` of ${p.totalVersions}` : '';
  return `${what}: ${p.phase} (${b.runStatus.toLowerCase()}); listed ${p.listed}, submitted ${p.submitted}${total}, replicated ${p.replicated} (${mib(p.replicatedBytes)}), already there ${p.alreadyReplicated}, not replicated ${p.notReplicated}, failed ${p.failed}, left FAILED ${p.skippedFailed}, skipped ${p.skipped}; time left ${duration(p.etaSeconds)}`;
}

function finished(b: BackfillStatus): boolean {
  return b.runStatus !== 'RUNNING';
}

/**
 * Follows backfills until they end: progress bars on a terminal, JSON lines otherwise.
 * Ctrl-C stops following only: the backfills go on.
 */
async function follow(
  read: () => Promise<BackfillStatus[]>,
  out: (line: string) => void,
  intervalMs = 1000,
): Promise<BackfillStatus[]> {
  const tty = process.stdout.isTTY === true;
  const bars = tty
    ? new MultiBar(
        {
          format:
            ' {site} [{bar}] {percentage}% | {value}/{total} versions | {replicated} replicated, {already} there, {failed} failed | {mib} | {phase} | left {eta}',
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 20,
        },
        Presets.shades_classic,
      )
    : undefined;
  const shown = new Map<string, ReturnType<MultiBar['create']>>();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  let last: BackfillStatus[] | undefined;
  try {
    for (;;) {
      last = await read();
      for (const b of last) {
        const p: BackfillProgress | undefined = b.progress;
        if (!p) continue;
        const done = reportedCount(p);
        const total = Math.max(p.totalVersions ?? 0, p.submitted, done, 1);
        if (bars) {
          const payload = {
            site: b.request?.site ?? '?',
            replicated: p.replicated,
            already: p.alreadyReplicated,
            failed: p.failed,
            mib: mib(p.replicatedBytes),
            phase: p.phase,
            eta: duration(p.etaSeconds),
          };
          let bar = shown.get(b.workflowId);
          if (!bar) shown.set(b.workflowId, (bar = bars.create(total, done, payload)));
          bar.setTotal(total);
          bar.update(done, payload);
        } else {
          out(JSON.stringify({ workflowId: b.workflowId, runStatus: b.runStatus, ...p }));
        }
      }
      if (interrupted || (last.length > 0 && last.every(finished))) break;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  } finally {
    process.off('SIGINT', onSignal);
    bars?.stop();
  }
  if (interrupted) out('stopped following: the backfill goes on (`replication backfill status`)');
  return last ?? [];
}

/** `replication backfill [start|status|cancel]` and `replication diff`. */
export function registerBackfillCommands(program: Command, h: CliHelpers): void {
  const backfill = program
    .command('backfill')
    .description(
      'replicate what a bucket held before its rule: a durable, resumable backfill per destination site (start, status, cancel)',
    );

  backfill
    .command('start', { isDefault: true })
    .description('start a backfill (the default subcommand) and follow its progress until it ends')
    .requiredOption('--bucket <bucket>', 'source bucket (required)')
    .option('--source-site <name>', "the bucket's site, when it is not the config's sourceSite (two-way)")
    .option('--site <name>', 'only this destination site (default: every site its rules send to)')
    .option('--prefix <prefix>', 'only keys starting with this', '')
    .option('--older-than <date>', 'only versions written before this time (ISO 8601)')
    .option('--include-failed', 'also retry versions whose replication is FAILED')
    .option(
      '--concurrency <n>',
      'versions submitted and not yet replicated at most (default: backfill.concurrency, 500)',
      positive('--concurrency'),
    )
    .option('--objects-per-second <n>', 'rate limit (default: none)', positive('--objects-per-second'))
    .option(
      '--mib-per-second <n>',
      'rate limit in MiB/s of listed versions (default: none)',
      positive('--mib-per-second'),
    )
    .option('--detach', 'start and return; follow with `replication backfill status`')
    .option('--json', 'JSON lines rather than progress bars (the default when stdout is not a terminal)')
    .addOption(h.configOption())
    .addHelpText(
      'after',
      '\nExamples:\n  replication backfill --bucket photos\n  replication backfill --bucket photos --site dr --prefix 2025/ --objects-per-second 200\n  replication backfill --bucket photos --older-than 2026-01-01T00:00:00Z --include-failed --detach',
    )
    .action(
      async (
        o: BucketScope & {
          olderThan?: string;
          includeFailed?: boolean;
          concurrency?: number;
          objectsPerSecond?: number;
          mibPerSecond?: number;
          detach?: boolean;
          json?: boolean;
        },
      ) => {
        const config = h.readConfig(o.config);
        const temporal = await connectTemporal(config);
        try {
          const started = await startBackfills(temporal.client, config, {
            bucket: o.bucket,
            sourceSite: o.sourceSite,
            site: o.site,
            prefix: o.prefix,
            olderThan: o.olderThan,
            includeFailed: o.includeFailed,
            concurrency: o.concurrency,
            objectsPerSecond: o.objectsPerSecond,
            mibPerSecond: o.mibPerSecond,
          });
          for (const s of started)
            h.out(
              `${s.started ? 'started' : 'already running'}: backfill of s3://${o.bucket}/${o.prefix} → ${s.site} (workflow ${s.workflowId})`,
            );
          if (o.detach) return;
          if (o.json) process.stdout.isTTY = false;
          const ended = await follow(
            () => Promise.all(started.map((s) => backfillStatus(temporal.client, s.workflowId))),
            h.out,
          );
          for (const b of ended) h.out(describeBackfill(b));
          const failed = ended.some((b) => (b.progress?.failed ?? 0) > 0 || b.runStatus === 'FAILED');
          process.exitCode = failed ? 1 : ended.every((b) => b.runStatus === 'COMPLETED') ? 0 : 2;
        } finally {
          await temporal.close();
        }
      },
    );

  backfill
    .command('status')
    .description(
      'backfills (running and recent) with their progress, from the Temporal server (no worker needed)',
    )
    .option('--bucket <bucket>', 'only this source bucket')
    .option('--site <name>', 'only this destination site')
    .option('--follow', 'keep showing the running ones until they end')
    .option('--json', 'machine-readable output')
    .addOption(h.configOption())
    .addHelpText(
      'after',
      '\nExamples:\n  replication backfill status\n  replication backfill status --bucket photos --follow',
    )
    .action(
      async (o: { bucket?: string; site?: string; follow?: boolean; json?: boolean; config: string }) => {
        const temporal = await connectTemporal(h.readConfig(o.config));
        try {
          const filters = { bucket: o.bucket, site: o.site };
          if (o.follow) {
            const running = await listBackfills(temporal.client, { ...filters, runningOnly: true });
            if (o.json) process.stdout.isTTY = false;
            await follow(
              () => Promise.all(running.map((b) => backfillStatus(temporal.client, b.workflowId))),
              h.out,
            );
          }
          const all = await listBackfills(temporal.client, filters, 50);
          if (o.json) h.out(JSON.stringify(all, null, 2));
          else if (all.length === 0) h.out('no backfills');
          else for (const b of all) h.out(describeBackfill(b));
        } finally {
          await temporal.close();
        }
      },
    );

  backfill
    .command('cancel')
    .description(
      'cancel running backfills (of a bucket, site or prefix); versions already submitted still replicate',
    )
    .requiredOption('--bucket <bucket>', 'source bucket (required)')
    .option('--site <name>', 'only this destination site')
    .option('--prefix <prefix>', 'only the backfill of this prefix')
    .addOption(h.configOption())
    .addHelpText('after', '\nExamples:\n  replication backfill cancel --bucket photos --site dr')
    .action(async (o: { bucket: string; site?: string; prefix?: string; config: string }) => {
      const temporal = await connectTemporal(h.readConfig(o.config));
      try {
        const ids = await cancelBackfills(temporal.client, {
          bucket: o.bucket,
          site: o.site,
          prefix: o.prefix,
        });
        h.out(
          ids.length === 0
            ? 'no running backfill matches'
            : `cancelled ${ids.length} backfill(s): ${ids.join(', ')}`,
        );
      } finally {
        await temporal.close();
      }
    });

  program
    .command('diff')
    .description(
      'stream what differs between a source bucket and its replicas: versions without a replica, replicas whose size or ETag differ, delete markers, latest; exit 1 when anything differs',
    )
    .requiredOption('--bucket <bucket>', 'source bucket (required)')
    .option('--source-site <name>', "the bucket's site, when it is not the config's sourceSite (two-way)")
    .option('--site <name>', 'only this destination site (default: every site its rules send to)')
    .option('--prefix <prefix>', 'only keys starting with this', '')
    .option('--json', 'one JSON object per line')
    .addOption(h.configOption())
    .addHelpText(
      'after',
      '\nExamples:\n  replication diff --bucket photos --site dr\n  replication diff --bucket photos --prefix 2026/ --json | jq .key',
    )
    .action(async (o: BucketScope & { json?: boolean }) => {
      const config = h.readConfig(o.config);
      const sites = sitesOfBucketRules(config, o.bucket, o.site, o.sourceSite);
      const clients = createSiteClients(config, 32);
      let differences = 0;
      try {
        for (const site of sites) {
          for await (const f of diffBucket(config, {
            bucket: o.bucket,
            ...(o.sourceSite !== undefined ? { sourceSite: o.sourceSite } : {}),
            site,
            prefix: o.prefix,
            source: clientFor(clients, o.sourceSite ?? config.sourceSite),
            target: clientFor(clients, site),
          })) {
            differences++;
            h.out(
              o.json
                ? JSON.stringify(f)
                : `${f.site}: s3://${f.bucket}/${f.key}${f.versionId ? ` version ${f.versionId}` : ''}: ${f.kind}: ${f.detail}`,
            );
          }
        }
      } finally {
        for (const c of clients.values()) c.destroy();
      }
      if (!o.json) h.out(differences === 0 ? 'no differences' : `${differences} difference(s)`);
      process.exitCode = differences === 0 ? 0 : 1;
    });
}

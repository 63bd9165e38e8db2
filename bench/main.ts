/**
 * `npm run bench`: measures the engine against the raw-copy limit (L), rclone (P1) and
 * MinIO's own bucket replication (P2), and its backfill (W5) against L and MinIO's resync, in
 * one run, on a fresh local stack. Prints a table and writes bench/results/<date>.json and
 * docs/BENCHMARKS.md. BENCH_SCALE=0.1 runs a smaller version of every workload (for trying
 * changes; reports say which scale ran). BENCH_TEMPORAL=both (or dev,server:1,server:4) and
 * BENCH_WORKERS=1,2 measure the same workloads on several stacks in one run, side by side.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createS3Client, type S3SiteConnection } from '../clients/s3';
import { repoRoot } from '../stack/paths';
import {
  startStack,
  temporalKind,
  type S3SiteEndpoint,
  type StackInfo,
  type TemporalKind,
} from '../stack/stack';
import { temporalShards } from '../stack/temporal-server';
import { backfillWorkloads, runBackfillWorkload } from './backfill';
import { mcBinary, rcloneVersion } from './baselines';
import { CompletionTracker } from './completion-tracker';
import { DirectJournal } from './direct-journal';
import {
  BACKFILL_SETTINGS,
  WORKER_SETTINGS,
  startEngine,
  stopEngine,
  workerProcessCount,
  writeEngineFiles,
} from './engine-processes';
import { setUpBucketPairs } from './journal-variants';
import { log } from './log';
import {
  writeReport,
  type BackfillWorkloadResult,
  type BenchResult,
  type ConfigurationResult,
  type WorkloadResult,
} from './report';
import { runWorkload } from './run-workload';
import { measureTemporalCeilingAndServerCpu } from './temporal-ceiling';
import { w4Rate, workloads } from './workloads';

const siteConnection = (s: S3SiteEndpoint): S3SiteConnection => ({
  ...s,
  forcePathStyle: true,
  credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
});

/** The command as run, with the BENCH_* settings that change what is measured. */
function commandLine(): string {
  const settings = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_KEEP_STATE' && k !== 'BENCH_PROFILE')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${/^[\w.,/:-]*$/.test(v ?? '') ? v : `'${v}'`}`);
  return [...settings, 'npm run bench'].join(' ');
}

/** The merges a merged base holds, less the workloads measured again now. */
function earlierMerges(base: BenchResult, measured: string[]): Array<{ measured: string[]; date: string }> {
  const merges = [
    ...(base.merged?.earlier ?? []),
    { measured: base.merged?.measured ?? [], date: base.date },
  ];
  return merges
    .map((m) => ({ ...m, measured: m.measured.filter((w) => !measured.includes(w)) }))
    .filter((m) => m.measured.length > 0);
}

/**
 * BENCH_MERGE=bench/results/<date>.json with BENCH_ONLY: what this run measured replaces the
 * same workloads in that earlier full run's results; the report says which came from where.
 */
function mergeInto(file: string, partial: BenchResult): BenchResult {
  const base = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult;
  const measured = partial.only ?? [];
  const order = (id: string) => ['W1', 'W2', 'W2p', 'W3', 'W4'].indexOf(id);
  return {
    ...base,
    date: partial.date,
    command: partial.command,
    loadAverage: partial.loadAverage,
    runSeconds: partial.runSeconds,
    workloads: [
      ...base.workloads.filter((w) => !partial.workloads.some((p) => p.id === w.id)),
      ...partial.workloads,
    ].sort((a, b) => order(a.id) - order(b.id)),
    // A part measured again replaces the same part; the others stay (W5b alone keeps W5a).
    ...(partial.backfill?.length
      ? {
          backfill: [
            ...(base.backfill ?? []).filter((b) => !partial.backfill!.some((p) => p.id === b.id)),
            ...partial.backfill,
          ].sort((a, b) => a.id.localeCompare(b.id)),
          backfillSettings: partial.backfillSettings,
        }
      : {}),
    only: undefined,
    // Several configurations (BENCH_TEMPORAL, BENCH_WORKERS): the first is merged, all are
    // shown. A run of one configuration keeps the earlier run's side-by-side comparison.
    configurations: (partial.configurations?.length ?? 0) > 1 ? partial.configurations : base.configurations,
    // The top-level ceiling stays the one the earlier run's workloads were measured beside.
    // A base that is itself a merge: the full run stays the one named, its merges are listed.
    merged: {
      base: base.merged?.base ?? path.basename(file),
      baseDate: base.merged?.baseDate ?? base.date,
      measured,
      ...(base.merged ? { earlier: earlierMerges(base, measured) } : {}),
      // A ceiling measured beside merged workloads stays with them through later merges.
      ...(measured.includes('ceiling')
        ? {
            temporalCeiling: partial.temporalCeiling,
            ceilingBeside: { workloads: measured.filter((m) => m !== 'ceiling'), date: partial.date },
          }
        : base.merged?.temporalCeiling
          ? { temporalCeiling: base.merged.temporalCeiling, ceilingBeside: base.merged.ceilingBeside }
          : {}),
    },
  };
}

/**
 * One stack to measure on: which Temporal (BENCH_TEMPORAL) with how many history shards, and
 * how many worker processes (BENCH_WORKERS). A run measures each in turn, each on a fresh stack.
 */
interface Configuration {
  temporal: TemporalKind;
  /** History shards of CRR_TEMPORAL=server (the dev server always has 1). */
  shards?: number;
  workerProcesses: number;
}

const labelOf = (c: Configuration): string =>
  `${c.temporal === 'dev' ? 'dev server' : `server, ${c.shards} shard${c.shards === 1 ? '' : 's'}`}, ${c.workerProcesses} worker${c.workerProcesses === 1 ? '' : 's'}`;

/**
 * BENCH_TEMPORAL: `dev`, `server`, `server:<shards>`, or a comma-separated list of them;
 * `both` = `dev,server`. Unset: CRR_TEMPORAL's choice (the dev server by default), as before.
 * BENCH_WORKERS: worker processes, or a list (`1,2`). Every combination is measured.
 */
function configurations(env: NodeJS.ProcessEnv): Configuration[] {
  const kinds = (env.BENCH_TEMPORAL ?? '').trim();
  const temporal: Array<Pick<Configuration, 'temporal' | 'shards'>> = (
    kinds === '' ? [temporalKind(env)] : kinds.replace(/^both$/, 'dev,server').split(',')
  ).map((raw) => {
    const [kind, shards] = raw.trim().split(':');
    if (kind === 'dev' && shards === undefined) return { temporal: 'dev' };
    if (kind === 'server')
      return {
        temporal: 'server',
        shards: temporalShards({ CRR_TEMPORAL_SHARDS: shards ?? env.CRR_TEMPORAL_SHARDS }),
      };
    throw new Error(
      `BENCH_TEMPORAL=${kinds}: expected dev, server, server:<shards>, both, or a list of them`,
    );
  });
  const workers = (env.BENCH_WORKERS ?? '1')
    .split(',')
    .map((w) => workerProcessCount({ BENCH_WORKERS: w.trim() }));
  return temporal.flatMap((t) => workers.map((workerProcesses) => ({ ...t, workerProcesses })));
}

/** The workloads of one configuration, on a stack of its own, stopped afterwards. */
async function measureConfiguration(
  config: Configuration,
  options: { scale: number; only?: string[]; baselines: boolean },
): Promise<ConfigurationResult & { peers: BenchResult['peers'] }> {
  const began = Date.now();
  const loadAverage = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const { scale, only } = options;
  const label = labelOf(config);
  log(`configuration: ${label}`);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-bench-'));
  const stack = await startStack({
    stateDir,
    ports: 'free',
    log,
    env: {
      ...process.env,
      CRR_TEMPORAL: config.temporal,
      ...(config.shards ? { CRR_TEMPORAL_SHARDS: String(config.shards) } : {}),
    },
  });
  const info: StackInfo = stack.info;
  const children: ChildProcess[] = [];
  try {
    const engineFiles = writeEngineFiles(stateDir, info);
    // `replication setup` runs in this process and reads the same profiles.
    process.env.AWS_SHARED_CREDENTIALS_FILE = engineFiles.credentialsPath;
    const specs = workloads(scale).filter((spec) => !only || only.includes(spec.id));
    const backfillSpecs = backfillWorkloads(scale).filter(
      (spec) => !only || only.includes('W5') || only.includes(spec.id),
    );
    await setUpBucketPairs(specs, engineFiles.configPath, info);
    const sites = { source: siteConnection(info.sites.source), target: siteConnection(info.sites.target) };
    const source = createS3Client(sites.source, 128);
    const target = createS3Client(sites.target, 128);
    const tracker = new CompletionTracker(info.kafka.brokers, info.topics);
    await tracker.start();
    const directJournal = new DirectJournal(info.kafka.brokers, info.topics.journal);
    await directJournal.start();
    const connection = await Connection.connect({ address: info.temporal.address });
    const temporal = new Client({ connection });
    const mc = mcBinary();
    const rclone = await rcloneVersion().catch(() => undefined);

    let temporalCeiling: BenchResult['temporalCeiling'] = { workflowsPerSecond: Number.NaN, seconds: 0 };
    if (!only || only.includes('ceiling')) {
      log('Temporal ceiling: signal-with-start of empty workflows...');
      const count = Math.max(200, Math.round(1000 * scale));
      temporalCeiling = await measureTemporalCeilingAndServerCpu(info.temporal.address, count, info.stateDir);
      log(
        `Temporal ceiling (${label}): ${temporalCeiling.workflowsPerSecond.toFixed(1)} empty workflows/s, server ${temporalCeiling.serverCpuMsPerWorkflow?.toFixed(1)} CPU-ms per workflow${temporalCeiling.databaseCpuMsPerWorkflow === undefined ? '' : `, PostgreSQL ${temporalCeiling.databaseCpuMsPerWorkflow.toFixed(1)}`}`,
      );
    }
    const results: WorkloadResult[] = [];
    for (const spec of specs) {
      // Flush what earlier workloads left to write (W2 alone writes ~10 GiB with its peers),
      // so that the kernel's writeback does not stall the next workload's disks.
      execFileSync('sync');
      // Each workload gets fresh worker and populator processes: its RSS and CPU are its own.
      const engine = await startEngine(engineFiles, info.logDir, config.workerProcesses);
      children.push(...engine.workers, engine.populator);
      results.push(
        await runWorkload(spec, {
          info,
          engine,
          tracker,
          temporal,
          sites,
          source,
          target,
          mc,
          rclone,
          directJournal,
          baselines: options.baselines,
        }),
      );
      await stopEngine(engine);
    }
    // W5 after the others: its objects exist before its rule, which each part sets up itself.
    const backfill: BackfillWorkloadResult[] = [];
    for (const spec of backfillSpecs) {
      execFileSync('sync');
      backfill.push(
        await runBackfillWorkload(spec, {
          info,
          engineFiles,
          tracker,
          temporal,
          source,
          target,
          mc,
          rclone: rclone !== undefined,
          workers: config.workerProcesses,
          started: (engine) => children.push(...engine.workers, engine.populator),
        }),
      );
    }
    await tracker.stop();
    await directJournal.stop();
    await connection.close();
    return {
      label,
      temporal: { kind: config.temporal, ...(config.shards ? { shards: config.shards } : {}) },
      workerProcesses: config.workerProcesses,
      temporalCeiling,
      workloads: results,
      ...(backfill.length ? { backfill } : {}),
      loadAverage,
      runSeconds: (Date.now() - began) / 1000,
      peers: {
        rclone: rclone ?? 'not available',
        mc: mc ? path.basename(path.dirname(mc)) : 'not available',
      },
    };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
    await stack.stop();
    if (process.env.BENCH_KEEP_STATE !== '1') fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const began = Date.now();
  const loadAverage = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const scale = Number(process.env.BENCH_SCALE ?? '1');
  // BENCH_ONLY=W2 (or W1,W4,W5,W5a,ceiling) runs a subset while trying a change; the report is
  // printed only (unless BENCH_MERGE names the full run to merge it into).
  const only = process.env.BENCH_ONLY?.split(',').map((x) => x.trim());
  const configs = configurations(process.env);
  // docs/BENCHMARKS.md judges W4 against its target at 50 objects/s: another rate is printed only.
  const writesReport = !only || Boolean(process.env.BENCH_MERGE);
  const rate = w4Rate();
  if (rate !== 50 && writesReport && (!only || only.includes('W4')))
    throw new Error(
      `BENCH_W4_RATE=${rate}: a W4 at another rate than 50 objects/s is not written to docs/BENCHMARKS.md; run it with BENCH_ONLY and without BENCH_MERGE`,
    );
  if (process.env.BENCH_MERGE) {
    const base = JSON.parse(fs.readFileSync(process.env.BENCH_MERGE, 'utf8')) as BenchResult;
    const first = configs[0]!;
    if (
      first.temporal !== (base.temporal?.kind ?? 'dev') ||
      first.workerProcesses !== (base.workerProcesses ?? 1)
    ) {
      throw new Error(
        `BENCH_MERGE: the first configuration (${labelOf(first)}) must be the one ${process.env.BENCH_MERGE} ran on`,
      );
    }
  }
  log('building the production bundle (npm run build)...');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const measured: Array<Awaited<ReturnType<typeof measureConfiguration>>> = [];
  for (const [i, config] of configs.entries()) {
    // The peers (L, rclone, MinIO replication) do not depend on Temporal: measured once.
    measured.push(await measureConfiguration(config, { scale, only, baselines: i === 0 }));
  }
  const first = measured[0]!;
  let result: BenchResult = {
    date: new Date().toISOString(),
    scale,
    machine:
      `${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.cpus()[0]?.model ?? ''}`.trim(),
    engineSettings: WORKER_SETTINGS,
    peers: first.peers,
    workloads: first.workloads,
    only,
    temporalCeiling: first.temporalCeiling,
    temporal: first.temporal,
    workerProcesses: first.workerProcesses,
    ...(first.backfill?.length ? { backfill: first.backfill, backfillSettings: BACKFILL_SETTINGS } : {}),
    ...(measured.length > 1 ? { configurations: measured.map(({ peers: _peers, ...c }) => c) } : {}),
    command: commandLine(),
    loadAverage,
    runSeconds: (Date.now() - began) / 1000,
  };
  if (process.env.BENCH_MERGE && only) result = mergeInto(process.env.BENCH_MERGE, result);
  await writeReport(result, log);
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});

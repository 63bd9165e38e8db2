/**
 * `replication` command line: setup, validate, status, failed, retry, dismiss, pause/resume,
 * backfill, diff, the control API and the local demo.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultConfigPath, loadEngineConfig, type EngineConfig } from '../config/engine-config';
import {
  dismissFailedKeys,
  listEnded,
  listFailed,
  retryFailedKeys,
  waitForRetries,
} from '../operations/failures';
import { describeSiteState, pauseSites, resumeSites, targetSites } from '../operations/site-control';
import { registerBackfillCommands } from './commands/backfill';
import { DEFAULT_JOURNAL_ARN, runSetup } from './commands/setup';
import { parseS3Target, runStatus } from './commands/status';
import { runValidate } from './commands/validate';
import { connectTemporal } from '../clients/temporal';

const out = (line: string) => console.log(line);
const configOption = () =>
  new Option('-c, --config <path>', 'engine config file').default(
    defaultConfigPath(process.env),
    '$CRR_CONFIG or ./crr.config.json',
  );

const program = new Command('replication')
  .description('Asynchronous cross-region replication for S3 buckets, on Temporal')
  .showHelpAfterError();

/** A commander parser for a positive number option, naming the option when it is not one. */
function parsePositiveNumber(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${option} must be a positive number (got "${value}")`);
    return n;
  };
}

/** The engine config, its deprecation warnings on stderr (stdout may be JSON). */
function readConfig(file: string): EngineConfig {
  const config = loadEngineConfig(file);
  for (const warning of config.warnings) process.stderr.write(`warning: ${file}: ${warning}\n`);
  return config;
}

program
  .command('setup')
  .description(
    'create buckets, enable versioning, attach the journal notification, check access and store a replication rule',
  )
  .requiredOption('--source-bucket <bucket>', 'bucket to replicate from (required)')
  .requiredOption(
    '--source-profile <profile>',
    'AWS profile (shared credentials file) of the source site (required)',
  )
  .requiredOption('--target-bucket <bucket>', 'bucket to replicate to (required)')
  .requiredOption('--target-profile <profile>', 'AWS profile of the target site (required)')
  .option('--prefix <prefix>', 'replicate only keys starting with this prefix', '')
  .option('--site <name>', 'name of the destination site', 'target')
  .option('--source-site <name>', 'name of the source site', 'source')
  .option(
    '--source-endpoint <url>',
    'S3 endpoint of the source site (default: from the config file or $CRR_SOURCE_ENDPOINT)',
  )
  .option(
    '--target-endpoint <url>',
    'S3 endpoint of the destination site (default: from the config file or $CRR_TARGET_ENDPOINT)',
  )
  .option('--region <region>', 'region of new sites', 'us-east-1')
  .option('--priority <n>', 'rule priority (default: above existing rules)', (v) => Number.parseInt(v, 10))
  .option('--no-delete-markers', 'do not replicate delete markers')
  .option('--no-notification', 'do not attach the journal notification to the source bucket')
  .option('--journal-arn <arn>', 'notification target of the journal on the source site', DEFAULT_JOURNAL_ARN)
  .addOption(configOption())
  .addHelpText(
    'after',
    '\nExamples:\n  replication setup --source-bucket photos --source-profile src --target-bucket photos-dr --target-profile dr --site dr \\\n      --source-endpoint http://s3.paris:9000 --target-endpoint http://s3.oslo:9000 --prefix 2026/',
  )
  .action(async (o) => {
    const problems = await runSetup(
      {
        ...o,
        sourceEndpoint: o.sourceEndpoint ?? process.env.CRR_SOURCE_ENDPOINT,
        targetEndpoint: o.targetEndpoint ?? process.env.CRR_TARGET_ENDPOINT,
        deleteMarkers: o.deleteMarkers,
        notification: o.notification,
      },
      out,
    );
    process.exitCode = problems > 0 ? 1 : 0;
  });

program
  .command('validate')
  .description('check the config, the sites and the buckets without changing anything')
  .addOption(configOption())
  .addHelpText('after', '\nExamples:\n  replication validate --config /etc/crr/crr.config.json')
  .action(async (o: { config: string }) => {
    process.exitCode = (await runValidate(o.config, out)) > 0 ? 1 : 0;
  });

program
  .command('status')
  .description("print each destination's replication status of an object (the seed's head-object check)")
  .argument('<url>', 's3://bucket/key')
  .option('--version-id <id>', 'one version (default: every version the latest run knows)')
  .option('--source-site <name>', "the bucket's site, when it is not the config's sourceSite (two-way)")
  .option('--json', 'machine-readable output')
  .addOption(configOption())
  .addHelpText(
    'after',
    '\nExamples:\n  replication status s3://photos/2026/cat.jpg\n  replication status s3://photos/2026/cat.jpg --version-id 3HL4kqtJlcpXroDTDmJ --json\n  replication status s3://photos/2026/cat.jpg --source-site b   # written on site b (two-way)',
  )
  .action(
    async (url: string, o: { versionId?: string; sourceSite?: string; json?: boolean; config: string }) => {
      const config = readConfig(o.config);
      const temporal = await connectTemporal(config);
      try {
        await runStatus(temporal.client, config, url, o.versionId, out, o.json, o.sourceSite);
      } finally {
        await temporal.close();
      }
    },
  );

program
  .command('failed')
  .description(
    'list keys with FAILED versions, with the reasons (from the Temporal server: no worker needed)',
  )
  .option('--site <name>', 'only this destination site')
  .option('--bucket <bucket>', 'only this source bucket')
  .option('--limit <n>', 'at most this many keys', (v) => Number.parseInt(v, 10), 1000)
  .option('--json', 'machine-readable output')
  .addOption(configOption())
  .addHelpText(
    'after',
    '\nExamples:\n  replication failed --site dr\n  replication failed --bucket photos --json',
  )
  .action(async (o: { site?: string; bucket?: string; limit: number; json?: boolean; config: string }) => {
    const temporal = await connectTemporal(readConfig(o.config));
    try {
      const filters = { site: o.site, bucket: o.bucket };
      const [failed, ended] = await Promise.all([
        listFailed(temporal.client, filters, o.limit),
        listEnded(temporal.client, filters, o.limit),
      ]);
      // JSON stays an array: ended keys are entries with their runStatus and no FAILED versions.
      if (o.json)
        out(
          JSON.stringify([...failed, ...ended.map((e) => ({ ...e, failed: [], failedCount: 0 }))], null, 2),
        );
      else if (failed.length === 0 && ended.length === 0) out('no failed replications');
      for (const e of o.json ? [] : ended)
        out(
          `${e.site}: s3://${e.bucket}/${e.key}: its replication run was ${e.runStatus.toLowerCase()} from the Temporal UI or CLI; versions not COMPLETED are not being replicated (\`replication status\` lists them)`,
        );
      for (const f of o.json ? [] : failed) {
        for (const v of f.failed)
          out(
            `${f.site}: s3://${f.bucket}/${f.key} ${v.operation} version ${v.versionId} (attempts ${v.attempts ?? '?'}, ${v.finishedAt ?? ''}): ${v.reason ?? ''}`,
          );
        if (f.failedCount > f.failed.length)
          out(
            `${f.site}: s3://${f.bucket}/${f.key}: ${f.failedCount - f.failed.length} older FAILED versions not listed`,
          );
      }
    } finally {
      await temporal.close();
    }
  });

program
  .command('retry')
  .description('retry FAILED versions (all of them, or of one site, bucket or object)')
  .argument('[url]', 's3://bucket/key to retry only this object, or s3://bucket for a whole bucket')
  .option('--site <name>', 'only this destination site')
  .option('--bucket <bucket>', 'only this source bucket')
  .option(
    '--wait [seconds]',
    'wait for the outcome of each retried key (default 300 s); exit 1 if any failed again',
  )
  .addOption(configOption())
  .addHelpText(
    'after',
    '\nExamples:\n  replication retry s3://photos/2026/cat.jpg --wait\n  replication retry s3://photos          # every FAILED key of the bucket\n  replication retry --site dr              # every FAILED key of the site',
  )
  .action(
    async (
      url: string | undefined,
      o: { site?: string; bucket?: string; wait?: boolean | string; config: string },
    ) => {
      const temporal = await connectTemporal(readConfig(o.config));
      try {
        const object = url ? parseS3Target(url) : undefined;
        const since = new Date();
        const keys = await retryFailedKeys(temporal.client, {
          site: o.site,
          bucket: object?.bucket ?? o.bucket,
          key: object?.key,
        });
        out(`retrying failed versions of ${keys.length} key(s)`);
        if (o.wait === undefined || keys.length === 0) return;
        const seconds = o.wait === true ? 300 : Number(o.wait);
        if (!Number.isFinite(seconds) || seconds <= 0)
          throw new InvalidArgumentError(`--wait must be a number of seconds (got "${String(o.wait)}")`);
        const outcomes = await waitForRetries(temporal.client, keys, since, seconds * 1000);
        for (const r of outcomes) {
          out(`${r.workflowId}: ${r.outcome}`);
          for (const v of r.failed) out(`  ${v.operation} version ${v.versionId}: ${v.reason}`);
        }
        process.exitCode = outcomes.every((r) => r.outcome === 'COMPLETED') ? 0 : 1;
      } finally {
        await temporal.close();
      }
    },
  );

program
  .command('dismiss')
  .description(
    'end FAILED versions that can never succeed (of one object, a bucket, a site, or all): recorded as dismissed, not replicated',
  )
  .argument('[url]', 's3://bucket/key, or s3://bucket for a whole bucket')
  .option('--site <name>', 'only this destination site')
  .option('--bucket <bucket>', 'only this source bucket')
  .option('--reason <text>', 'recorded with each dismissed version')
  .addOption(configOption())
  .addHelpText(
    'after',
    '\nExamples:\n  replication dismiss s3://photos/tmp/cat.jpg --reason "deleted on purpose before it replicated"',
  )
  .action(
    async (
      url: string | undefined,
      o: { site?: string; bucket?: string; reason?: string; config: string },
    ) => {
      const temporal = await connectTemporal(readConfig(o.config));
      try {
        const object = url ? parseS3Target(url) : undefined;
        const keys = await dismissFailedKeys(
          temporal.client,
          { site: o.site, bucket: object?.bucket ?? o.bucket, key: object?.key },
          o.reason,
        );
        out(`dismissed the failed versions of ${keys.length} key(s)`);
      } finally {
        await temporal.close();
      }
    },
  );

program
  .command('pause')
  .description(
    'pause replication to a destination site (all of them without --site): no new copy starts within a second or so, copies in flight finish, versions wait PENDING in order',
  )
  .option('--site <name>', 'only this destination site')
  .option('--hours <n>', 'resume on its own after this many hours', parsePositiveNumber('--hours'))
  .option('--reason <text>', 'shown by status and the API')
  .addHelpText(
    'after',
    '\nExamples:\n  replication pause --site dr-site --hours 2 --reason "target maintenance"\n  replication resume --site dr-site',
  )
  .addOption(configOption())
  .action(async (o: { site?: string; hours?: number; reason?: string; config: string }) => {
    const config = readConfig(o.config);
    const temporal = await connectTemporal(config);
    try {
      const states = await pauseSites(temporal.client, config, targetSites(config, o.site), {
        hours: o.hours,
        reason: o.reason,
      });
      for (const s of states) out(describeSiteState(s));
    } finally {
      await temporal.close();
    }
  });

program
  .command('resume')
  .description(
    'resume replication to a paused destination site (all of them without --site); waiting versions drain in order',
  )
  .option('--site <name>', 'only this destination site')
  .addOption(configOption())
  .action(async (o: { site?: string; config: string }) => {
    const config = readConfig(o.config);
    const temporal = await connectTemporal(config);
    try {
      for (const s of await resumeSites(temporal.client, config, targetSites(config, o.site)))
        out(describeSiteState(s));
    } finally {
      await temporal.close();
    }
  });

program
  .command('api')
  .description(
    'serve the control API (HTTP/JSON, bearer token): status, failures, retry, pause/resume, sites',
  )
  .option('--host <address>', 'address to bind (default: api.host, 127.0.0.1)')
  .option('--port <n>', 'port (default: api.port, 8900)', parsePositiveNumber('--port'))
  .addHelpText(
    'after',
    '\nThe token comes from CRR_API_TOKEN, CRR_API_TOKEN_FILE or the config\'s api.tokenFile.\nExamples:\n  CRR_API_TOKEN_FILE=/etc/crr/api-token replication api\n  curl -H "Authorization: Bearer $(cat /etc/crr/api-token)" http://127.0.0.1:8900/_/crr/sites',
  )
  .addOption(configOption())
  .action(async (o: { host?: string; port?: number; config: string }) => {
    const { startApi } = await import('../api/start');
    const api = await startApi(readConfig(o.config), { host: o.host, port: o.port });
    out(`control API on ${api.url} (OpenAPI document: ${api.url}/_/openapi.json); Ctrl-C stops it`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await api.close();
    out('stopped');
  });

registerBackfillCommands(program, { out, configOption, readConfig });

program
  .command('demo')
  .description(
    'start the local stack, worker and populator, set up source-bucket → target-bucket and replicate a first object',
  )
  .action(async () => {
    const { runDemo } = await import('./commands/demo');
    await runDemo(out);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`replication: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

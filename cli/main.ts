/**
 * `replication` command line: setup, validate, status, failed, retry, and the local demo.
 */
import { Command, Option } from 'commander';
import { defaultConfigPath, loadEngineConfig, type EngineConfig } from '../config/engine-config';
import { listFailed, retryFailed } from './commands/failures';
import { DEFAULT_JOURNAL_ARN, runSetup } from './commands/setup';
import { parseS3Url, runStatus } from './commands/status';
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
  .requiredOption('--source-bucket <bucket>', 'bucket to replicate from')
  .requiredOption('--source-profile <profile>', 'AWS profile (shared credentials file) of the source site')
  .requiredOption('--target-bucket <bucket>', 'bucket to replicate to')
  .requiredOption('--target-profile <profile>', 'AWS profile of the target site')
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
  .action(async (o: { config: string }) => {
    process.exitCode = (await runValidate(o.config, out)) > 0 ? 1 : 0;
  });

program
  .command('status')
  .description("print each destination's replication status of an object (the seed's head-object check)")
  .argument('<url>', 's3://bucket/key')
  .option('--version-id <id>', 'one version (default: every version the latest run knows)')
  .option('--json', 'machine-readable output')
  .addOption(configOption())
  .action(async (url: string, o: { versionId?: string; json?: boolean; config: string }) => {
    const config = readConfig(o.config);
    const temporal = await connectTemporal(config);
    try {
      await runStatus(temporal.client, config, url, o.versionId, out, o.json);
    } finally {
      await temporal.close();
    }
  });

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
  .action(async (o: { site?: string; bucket?: string; limit: number; json?: boolean; config: string }) => {
    const temporal = await connectTemporal(readConfig(o.config));
    try {
      const failed = await listFailed(temporal.client, o, o.limit);
      if (o.json) out(JSON.stringify(failed, null, 2));
      else if (failed.length === 0) out('no failed replications');
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
  .argument('[url]', 's3://bucket/key to retry only this object')
  .option('--site <name>', 'only this destination site')
  .option('--bucket <bucket>', 'only this source bucket')
  .addOption(configOption())
  .action(async (url: string | undefined, o: { site?: string; bucket?: string; config: string }) => {
    const temporal = await connectTemporal(readConfig(o.config));
    try {
      const object = url ? parseS3Url(url) : undefined;
      const count = await retryFailed(temporal.client, {
        site: o.site,
        bucket: object?.bucket ?? o.bucket,
        key: object?.key,
      });
      out(`retrying failed versions of ${count} key(s)`);
    } finally {
      await temporal.close();
    }
  });

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

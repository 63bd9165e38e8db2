/**
 * Worker process: hosts the replication workflows and activities, one task queue per
 * destination site. SIGTERM or SIGINT drains in-flight work before exiting.
 */
import { Command } from 'commander';
import { loadEngineConfig, defaultConfigPath } from '../config/engine-config';
import { createLogger } from '../shared/logger';
import { createReplicationWorker } from './replication-worker';

async function main(): Promise<void> {
  const program = new Command('crr-worker')
    .description('Run the replication worker (workflows and activities) for one or more destination sites')
    .option('-c, --config <path>', 'engine config file (default: $CRR_CONFIG or ./crr.config.json)')
    .option('-s, --sites <names>', 'comma-separated destination sites to serve (default: all)')
    .parse();
  const opts = program.opts<{ config?: string; sites?: string }>();
  const logger = createLogger('worker');
  const config = loadEngineConfig(opts.config ?? defaultConfigPath(process.env));
  for (const warning of config.warnings) logger.warn({ config: true }, warning);
  const worker = await createReplicationWorker({ config, logger, sites: opts.sites?.split(',') });
  // Temporal's runtime already turns SIGINT/SIGTERM into a graceful worker shutdown.
  await worker.run();
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  process.stderr.write(`crr-worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

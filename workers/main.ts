/**
 * Worker process: hosts the replication workflows and activities, one task queue per
 * destination site, following the config file as it changes. SIGTERM or SIGINT drains
 * in-flight work before exiting. Prometheus metrics are served on
 * `metrics.host:worker.metricsPort` (docs/OPERATIONS.md, "Metrics").
 */
import { Command } from 'commander';
import { loadEngineConfig, defaultConfigPath, destinationSites } from '../config/engine-config';
import { collectProcessMetrics, processRegistry } from '../metrics/registry';
import { startMetricsServer } from '../metrics/server';
import { workerMetrics } from '../metrics/worker-metrics';
import { createLogger } from '../shared/logger';
import { createReplicationWorker } from './replication-worker';
import { heapGrowthPolicyFor } from './heap-growth';

async function main(): Promise<void> {
  const program = new Command('crr-worker')
    .description('Run the replication worker (workflows and activities) for one or more destination sites')
    .option('-c, --config <path>', 'engine config file (default: $CRR_CONFIG or ./crr.config.json)')
    .option('-s, --sites <names>', 'comma-separated destination sites to serve (default: all)')
    .parse();
  const opts = program.opts<{ config?: string; sites?: string }>();
  const logger = createLogger('worker');
  const configFile = opts.config ?? defaultConfigPath(process.env);
  const config = loadEngineConfig(configFile);
  for (const warning of config.warnings) logger.warn({ config: true }, warning);
  const sites = opts.sites?.split(',');
  if (config.worker.metricsPort > 0) {
    collectProcessMetrics();
    workerMetrics().initSites((sites ?? destinationSites(config)).filter((site) => site in config.sites));
  }
  // Never fails: a busy port is a warning, and the worker goes on without metrics.
  const metricsServer = await startMetricsServer({
    registry: processRegistry(),
    host: config.metrics.host,
    port: config.worker.metricsPort,
    logger,
    component: 'worker',
  });
  try {
    const { host } = config.metrics;
    const sdkMetricsAddress =
      config.worker.sdkMetricsPort > 0
        ? `${host.includes(':') ? `[${host}]` : host}:${config.worker.sdkMetricsPort}`
        : undefined;
    // The process's own: V8's flags are global, so a host running several workers (tests) has none.
    const copyLoad = heapGrowthPolicyFor(config.worker.heapGrowth, logger);
    // The config file is watched: sites and rules added with `replication setup` are served
    // without a restart (docs/OPERATIONS.md, "Change the config while the processes run").
    const worker = await createReplicationWorker({
      config,
      logger,
      sites,
      sdkMetricsAddress,
      configFile,
      ...(copyLoad ? { copyLoad } : {}),
    });
    // Temporal's runtime already turns SIGINT/SIGTERM into a graceful worker shutdown.
    await worker.run();
  } finally {
    await metricsServer.close();
  }
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  process.stderr.write(`crr-worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * Populator process: consumes the metadata journal from Kafka and signal-starts the
 * replication workflows. SIGTERM or SIGINT stops each partition's lane at its next signal
 * and commits every chunk Temporal fully accepted; the rest is consumed again on restart
 * (duplicates are dropped by the workflows). Prometheus metrics are served on
 * `metrics.host:populator.metricsPort` (docs/OPERATIONS.md, "Metrics").
 */
import { Command } from 'commander';
import { createKafka } from '../clients/kafka';
import { clientFor, createSiteClients } from '../clients/s3';
import { batchingStatusPublisher, kafkaStatusPublisher } from '../clients/status-publisher';
import { lazyTemporalClient } from '../clients/temporal';
import { watchEngineConfig } from '../config/config-watcher';
import {
  defaultConfigPath,
  destinationSites,
  journalTopicsOf,
  loadEngineConfig,
} from '../config/engine-config';
import { populatorMetrics } from '../metrics/populator-metrics';
import { collectProcessMetrics, processRegistry } from '../metrics/registry';
import { startMetricsServer } from '../metrics/server';
import { createLogger } from '../shared/logger';
import { heapGrowthIsOurs, setHeapGrowingPercent } from '../shared/v8-heap';
import { startBacklogObserver } from './backlog-observer';
import { createPopulator } from './populator';

async function main(): Promise<void> {
  const program = new Command('crr-populator')
    .description('Consume the metadata journal and start replication workflows')
    .option('-c, --config <path>', 'engine config file (default: $CRR_CONFIG or ./crr.config.json)')
    .parse();
  const opts = program.opts<{ config?: string }>();
  const logger = createLogger('populator');
  const configFile = opts.config ?? defaultConfigPath(process.env);
  const config = loadEngineConfig(configFile);
  for (const warning of config.warnings) logger.warn({ config: true }, warning);
  const heapGrowth = config.populator.heapGrowingPercent;
  if (heapGrowthIsOurs(heapGrowth, 'populator.heapGrowingPercent', logger)) {
    setHeapGrowingPercent(heapGrowth);
    logger.info({ heapGrowingPercent: heapGrowth }, `old generation kept to ${heapGrowth}% growth`);
  }
  const kafka = createKafka(config, 'populator');
  // A lazy connection lets the populator start (and wait) while Temporal is still down.
  const temporal = lazyTemporalClient(config);
  const producer = kafka.producer();
  let clients = createSiteClients(config);
  const metricsOn = config.populator.metricsPort > 0;
  const metrics = populatorMetrics();
  if (metricsOn) {
    collectProcessMetrics();
    metrics.init(destinationSites(config));
  }
  // Never fails: a busy port is a warning, and the populator goes on without metrics.
  const metricsServer = await startMetricsServer({
    registry: processRegistry(),
    host: config.metrics.host,
    port: config.populator.metricsPort,
    logger,
    component: 'populator',
  });
  const makePopulator = () =>
    createPopulator({
      config,
      // Partitions whose lane finished are fetched again at the next fetch: a short long-poll
      // keeps that prompt when the other partitions are idle.
      consumer: kafka.consumer({
        groupId: config.kafka.consumerGroup,
        maxWaitTimeInMs: config.populator.fetchMaxWaitMs,
      }),
      producer,
      temporal: temporal.client,
      source: (site) => clientFor(clients, site),
      // Partitions are consumed concurrently: gather their PENDING events into one request.
      status: batchingStatusPublisher(kafkaStatusPublisher(producer, config.kafka.statusTopic)),
      logger,
      metrics,
    });
  let populator = makePopulator();
  let topics = journalTopicsOf(config);
  await populator.start();
  // Rules added or changed with `replication setup` apply without a restart; a new source
  // site's journal is another topic: the populator then leaves the group and joins again
  // subscribed to every topic (what the old one had not committed is consumed again, and
  // the workflows drop what they already have).
  const configWatcher = watchEngineConfig(configFile, config, logger, undefined, undefined, {
    onChange: async () => {
      const next = journalTopicsOf(config);
      if (next.length === topics.length && next.every((t) => topics.includes(t))) return;
      logger.info({ from: topics, to: next }, 'journal topics changed: rejoining the group with every topic');
      await populator.stop();
      const previous = clients;
      clients = createSiteClients(config);
      for (const client of previous.values()) client.destroy();
      topics = next;
      populator = makePopulator();
      await populator.start();
    },
  });
  // Keys waiting per site (Temporal visibility counts) and consumer lag (Kafka), every 15 s.
  const backlog = metricsOn
    ? startBacklogObserver({
        config,
        temporal: temporal.client,
        admin: kafka.admin(),
        metrics,
        logger,
        assignedPartitions: () => populator.assignedPartitions(),
      })
    : undefined;
  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping populator');
    await backlog?.stop();
    configWatcher.stop();
    await populator.stop();
    await metricsServer.close();
    await temporal.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`crr-populator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

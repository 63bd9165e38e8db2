import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Producer } from 'kafkajs';
import { createKafka } from '../clients/kafka';
import { connectTemporal, connectWorkerConnection } from '../clients/temporal';
import type { Logger } from 'pino';
import { createReplicationActivities, MarkerCache } from '../activities';
import { clientFor, createSiteClients } from '../clients/s3';
import { batchingStatusPublisher, kafkaStatusPublisher } from '../clients/status-publisher';
import { destinationSites, type EngineConfig } from '../config/engine-config';
import { siteState } from '../operations/site-control';
import { controlTaskQueue, taskQueueFor } from '../shared/workflow-contract';
import { SiteGate } from './site-gate';

export interface ReplicationWorkerOptions {
  config: EngineConfig;
  logger: Logger;
  /** Destination sites to serve; all of them by default (one task queue each). */
  sites?: string[];
  /** `host:port` for the Temporal SDK's Prometheus metrics (the worker process sets it). */
  sdkMetricsAddress?: string;
}

/**
 * Pre-bundled workflow code (npm run build) when present; otherwise bundled once at start-up
 * and shared by every Worker of the process (a site resumed after a pause starts at once).
 */
async function workflowSource(): Promise<Pick<WorkerOptions, 'workflowBundle'>> {
  const bundle = process.env.CRR_WORKFLOW_BUNDLE ?? path.resolve(__dirname, '..', 'workflow-bundle.js');
  if (fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  const code = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return { workflowBundle: code };
}

export interface RunningReplicationWorker {
  /** The destination sites this process serves, and whether each is running or paused. */
  sites(): Array<{ site: string; state: 'running' | 'paused' }>;
  /** Resolves when every worker has stopped (after shutdown() drained in-flight work). */
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

/**
 * Routes the Temporal SDK's own logs through pino at warn level, and serves its Prometheus
 * metrics on `sdkMetricsAddress` when given (once per process: the runtime is global).
 */
function installRuntime(logger: Logger, sdkMetricsAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const runtimeLogger = new DefaultLogger('WARN', ({ level, message, meta }) => {
    const log = level === 'ERROR' ? logger.error.bind(logger) : logger.warn.bind(logger);
    log({ temporal: meta }, message);
  });
  try {
    Runtime.install({
      logger: runtimeLogger,
      ...(sdkMetricsAddress
        ? {
            telemetryOptions: {
              metrics: { prometheus: { bindAddress: sdkMetricsAddress, useSecondsForDurations: true } },
            },
          }
        : {}),
    });
  } catch (err) {
    if (!sdkMetricsAddress) return; // already installed by the host process (tests create several workers)
    // A busy port must not stop replication: go on without the SDK's metrics.
    logger.warn(
      { address: sdkMetricsAddress, err: (err as Error).message },
      `Temporal SDK metrics not served on ${sdkMetricsAddress}: the worker goes on without them`,
    );
    try {
      Runtime.install({ logger: runtimeLogger });
    } catch {
      // already installed
    }
  }
}

export async function createReplicationWorker(
  options: ReplicationWorkerOptions,
): Promise<RunningReplicationWorker> {
  const { config, logger } = options;
  installRuntime(logger, options.sdkMetricsAddress);
  const sites = options.sites ?? destinationSites(config);
  for (const site of sites) {
    if (!(site in config.sites))
      throw new Error(
        `unknown destination site "${site}" (configured: ${Object.keys(config.sites).join(', ')})`,
      );
  }
  const w = config.worker;
  const clients = createSiteClients(config, w.maxConcurrentActivities * Math.max(1, w.partConcurrency));
  const producer: Producer = createKafka(config, 'worker').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const activities = createReplicationActivities({
    sourceSite: config.sourceSite,
    source: clientFor(clients, config.sourceSite),
    targetClient: (site) => clientFor(clients, site),
    settings: {
      multipartThresholdBytes: config.policy.multipartThresholdBytes,
      localActivityMaxBytes: config.policy.localActivityMaxBytes,
      partSizeBytes: w.partSizeBytes,
      partConcurrency: w.partConcurrency,
    },
    status: batchingStatusPublisher(kafkaStatusPublisher(producer, config.kafka.statusTopic)),
    logger,
    markers: new MarkerCache(),
  });
  const connection = await connectWorkerConnection(config);
  const temporal = await connectTemporal(config);
  const source = await workflowSource();
  const prefix = config.temporal.taskQueuePrefix;
  const siteWorkerOptions = (site: string): WorkerOptions => ({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: taskQueueFor(prefix, site),
    ...source,
    activities,
    maxConcurrentActivityTaskExecutions: w.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: w.maxConcurrentWorkflowTasks,
    maxCachedWorkflows: w.maxCachedWorkflows,
    maxConcurrentWorkflowTaskPolls: w.workflowTaskPolls,
    nonStickyToStickyPollRatio: w.nonStickyToStickyPollRatio,
    shutdownGraceTime: w.shutdownGraceMs,
    // The SDK sends the first heartbeat at once and then the latest every 80% of the
    // heartbeat timeout: after a kill -9 the server's copy of a multipart upload's progress
    // would be up to 12 s old. One a second keeps it fresh for the next attempt.
    maxHeartbeatThrottleInterval: '1 second',
  });
  // Every worker process also runs the sites' control workflows (pause state, scheduled resume).
  const controlWorker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: controlTaskQueue(prefix),
    ...source,
    maxConcurrentWorkflowTaskExecutions: 2,
    maxCachedWorkflows: 100,
  });
  const gate = new SiteGate(sites, {
    start: (site) => Worker.create(siteWorkerOptions(site)),
    pauseState: (site) => siteState(temporal.client, prefix, site),
    pollMs: w.pausePollMs,
    logger,
  });
  await gate.start();
  logger.info(
    { sites, taskQueues: sites.map((s) => taskQueueFor(config.temporal.taskQueuePrefix, s)) },
    'worker ready',
  );
  let stopped: Promise<void> | undefined;
  const run = async () => {
    try {
      // The Temporal runtime turns SIGINT/SIGTERM into a shutdown of every Worker; the gate
      // then stops watching (see SiteGate) and both promises settle once in-flight work drained.
      await Promise.all([controlWorker.run().finally(() => gate.stop()), gate.done()]);
    } finally {
      await producer.disconnect().catch(() => undefined);
      await temporal.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
      for (const client of clients.values()) client.destroy();
    }
  };
  return {
    sites: () => gate.states(),
    run: () => (stopped ??= run()),
    async shutdown() {
      const stopping = gate.stop();
      if (controlWorker.getState() === 'RUNNING') controlWorker.shutdown();
      await stopping;
      await stopped;
    },
  };
}

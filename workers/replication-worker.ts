import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Producer } from 'kafkajs';
import { createKafka } from '../clients/kafka';
import { connectWorkerConnection } from '../clients/temporal';
import type { Logger } from 'pino';
import { createReplicationActivities, MarkerCache } from '../activities';
import { clientFor, createSiteClients } from '../clients/s3';
import { batchingStatusPublisher, kafkaStatusPublisher } from '../clients/status-publisher';
import { destinationSites, type EngineConfig } from '../config/engine-config';
import { taskQueueFor } from '../shared/workflow-contract';

export interface ReplicationWorkerOptions {
  config: EngineConfig;
  logger: Logger;
  /** Destination sites to serve; all of them by default (one task queue each). */
  sites?: string[];
}

/** Pre-bundled workflow code (npm run build) when present; otherwise bundled at start-up. */
function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = process.env.CRR_WORKFLOW_BUNDLE ?? path.resolve(__dirname, '..', 'workflow-bundle.js');
  if (fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('../workflows') };
}

export interface RunningReplicationWorker {
  workers: Worker[];
  /** Resolves when every worker has stopped (after shutdown() drained in-flight work). */
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

/** Routes the Temporal SDK's own logs through pino at warn level (once per process). */
function installRuntime(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
        const log = level === 'ERROR' ? logger.error.bind(logger) : logger.warn.bind(logger);
        log({ temporal: meta }, message);
      }),
    });
  } catch {
    // Already installed by the host process (tests create several workers).
  }
}

export async function createReplicationWorker(
  options: ReplicationWorkerOptions,
): Promise<RunningReplicationWorker> {
  const { config, logger } = options;
  installRuntime(logger);
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
  const workers = await Promise.all(
    sites.map((site) =>
      Worker.create({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: taskQueueFor(config.temporal.taskQueuePrefix, site),
        ...workflowSource(),
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
      }),
    ),
  );
  logger.info(
    { sites, taskQueues: sites.map((s) => taskQueueFor(config.temporal.taskQueuePrefix, s)) },
    'worker ready',
  );
  let stopped: Promise<void> | undefined;
  const run = async () => {
    try {
      await Promise.all(workers.map((worker) => worker.run()));
    } finally {
      await producer.disconnect().catch(() => undefined);
      await connection.close().catch(() => undefined);
      for (const client of clients.values()) client.destroy();
    }
  };
  return {
    workers,
    run: () => (stopped ??= run()),
    async shutdown() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await stopped;
    },
  };
}

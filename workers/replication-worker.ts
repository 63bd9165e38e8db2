import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Producer } from 'kafkajs';
import { createKafka } from '../clients/kafka';
import { connectTemporal, connectWorkerConnection } from '../clients/temporal';
import type { Logger } from 'pino';
import { createReplicationActivities, MarkerCache, SourcePartsFallbacks } from '../activities';
import { createBackfillActivities } from '../activities/backfill-activities';
import type { ReplicationContext } from '../activities/replication-context';
import { signalReplicationTasks } from '../clients/replication-signals';
import { watchBackfillScopes } from '../operations/backfill';
import { clientFor, createSiteClient, createSiteClients, WORKER_MAX_SOCKETS } from '../clients/s3';
import { batchingStatusPublisher, kafkaStatusPublisher } from '../clients/status-publisher';
import { watchEngineConfig } from '../config/config-watcher';
import {
  destinationSites,
  rulesOf,
  siteOfRule,
  type EngineConfig,
  type SiteConfig,
} from '../config/engine-config';
import { bucketOfArn } from '../shared/s3-names';
import type { ReplicationTask } from '../shared/replication-task';
import { workerMetrics } from '../metrics/worker-metrics';
import { siteState } from '../operations/site-control';
import { controlTaskQueue, taskQueueFor } from '../shared/workflow-contract';
import { SiteGate } from './site-gate';
import { planSiteReload } from './site-reload';
import { bundleShippedWorkflowCode, workflowStackTracesWanted } from './workflow-bundle-options';
import { withWorkflowThreadHeap } from './workflow-thread-heap';

export interface ReplicationWorkerOptions {
  config: EngineConfig;
  logger: Logger;
  /** Destination sites to serve; all of them by default (one task queue each). */
  sites?: string[];
  /** `host:port` for the Temporal SDK's Prometheus metrics (the worker process sets it). */
  sdkMetricsAddress?: string;
  /**
   * The config file `config` was read from: watched while the worker runs, so sites and
   * rules added with `replication setup` are served without a restart (see reloadSites).
   */
  configFile?: string;
  /** How often the config file is checked (default 2 s). */
  configPollMs?: number;
  /** Told when copies start and end streaming (the process's heap growth policy, workers/heap-growth.ts). */
  copyLoad?: ReplicationContext['copyLoad'];
}

/**
 * An S3 client replaced after its site's entry changed is destroyed this long after, so
 * the activities that already hold it finish with it (a longer multipart copy that loses its
 * client is retried, resuming from its uploaded parts, with the new one).
 */
export const RETIRED_CLIENT_LIFETIME_MS = 60 * 60_000;

/**
 * Pre-bundled workflow code (npm run build) when present; otherwise bundled once at start-up
 * and shared by every Worker of the process (a site resumed after a pause starts at once).
 * A worker asked for workflow stack traces (`CRR_WORKFLOW_STACK_TRACES=1`) bundles its own, so
 * that the setting takes effect whatever the pre-built bundle was built with.
 */
async function workflowSource(): Promise<Pick<WorkerOptions, 'workflowBundle'>> {
  const bundle = process.env.CRR_WORKFLOW_BUNDLE ?? path.resolve(__dirname, '..', 'workflow-bundle.js');
  if (fs.existsSync(bundle) && !workflowStackTracesWanted()) return { workflowBundle: { codePath: bundle } };
  const code = await bundleShippedWorkflowCode({ logger: new DefaultLogger('WARN') });
  return { workflowBundle: code };
}

export interface RunningReplicationWorker {
  /** The destination sites this process serves, and whether each is running or paused. */
  sites(): Array<{ site: string; state: 'running' | 'paused' }>;
  /**
   * Serves what the config (as changed in place) now describes: new destination sites
   * started (unless `sites` was given), S3 clients built again for sites whose entry
   * changed. Called by the config watcher; sites are never stopped by it.
   */
  reloadSites(): Promise<void>;
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
  // The clients of every site of the config, by name; a site's entry changed or added while
  // running gets a new client here (activities look their client up at each attempt).
  const clients = createSiteClients(config, WORKER_MAX_SOCKETS, logger);
  const connections = new Map<string, SiteConfig>(
    Object.entries(config.sites).map(([name, site]) => [name, { ...site }]),
  );
  const retired = new Set<S3Client>();
  const producer: Producer = createKafka(config, 'worker').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const sourceSite = config.sourceSite;
  const connection = await connectWorkerConnection(config, { logger });
  const temporal = await connectTemporal(config);
  let scopeWarnedAt = 0;
  // Keys under a running backfill bring their versions from before the rule along.
  const backfillScopes = watchBackfillScopes(temporal.client, w.backfillScopePollMs, (err) => {
    if (Date.now() - scopeWarnedAt < 5 * 60_000) return;
    scopeWarnedAt = Date.now();
    logger.warn({ err: (err as Error).message }, 'could not read the running backfills (retried)');
  });
  const replicationActivities = createReplicationActivities({
    sourceSite,
    get source() {
      return clientFor(clients, sourceSite);
    },
    targetClient: (site) => clientFor(clients, site),
    conditionalWrites: (site) => config.sites[site]?.conditionalWrites !== false,
    sourceClient: (site) => clientFor(clients, site),
    isTwoWay: (task) => replicatesBack(config, task),
    settings: {
      multipartThresholdBytes: config.policy.multipartThresholdBytes,
      localActivityMaxBytes: config.policy.localActivityMaxBytes,
      partSizeBytes: w.partSizeBytes,
      partConcurrency: w.partConcurrency,
    },
    status: batchingStatusPublisher(kafkaStatusPublisher(producer, config.kafka.statusTopic)),
    logger,
    markers: new MarkerCache(),
    sourcePartsFallbacks: new SourcePartsFallbacks(),
    backfillScopes,
    ...(options.copyLoad ? { copyLoad: options.copyLoad } : {}),
  });
  const activities = {
    ...replicationActivities,
    ...createBackfillActivities({
      config: () => config,
      source: (site) => clientFor(clients, site ?? sourceSite),
      signal: (tasks) => signalReplicationTasks(temporal.client, config, tasks),
      logger,
    }),
  };
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
  const controlWorker = await withWorkflowThreadHeap(() =>
    Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: controlTaskQueue(prefix),
      ...source,
      maxConcurrentWorkflowTaskExecutions: 2,
      maxCachedWorkflows: 100,
    }),
  );
  const gate = new SiteGate(sites, {
    start: (site) => withWorkflowThreadHeap(() => Worker.create(siteWorkerOptions(site))),
    pauseState: (site) => siteState(temporal.client, prefix, site),
    pollMs: w.pausePollMs,
    logger,
  });
  await gate.start();
  logger.info(
    { sites, taskQueues: sites.map((s) => taskQueueFor(config.temporal.taskQueuePrefix, s)) },
    'worker ready',
  );

  let closed = false;
  const explicitSites = options.sites !== undefined;
  // What is known about served sites no longer in the config or in any rule (logged when it changes).
  const atStart = planSiteReload({ config, served: gate.served(), connections, explicitSites });
  const reported = {
    removed: new Set(atStart.removed),
    unused: new Set(atStart.unused),
    notServed: new Set(atStart.notServed),
  };
  const reportOnce = (kind: keyof typeof reported, now: string[], log: (site: string) => void) => {
    for (const site of now) if (!reported[kind].has(site)) log(site);
    reported[kind] = new Set(now);
  };
  const reloadSites = async () => {
    if (closed) return;
    const plan = planSiteReload({ config, served: gate.served(), connections, explicitSites });
    for (const site of plan.connect) {
      const entry = config.sites[site]!;
      const previous = clients.get(site);
      clients.set(site, createSiteClient(site, entry, WORKER_MAX_SOCKETS, logger));
      connections.set(site, { ...entry });
      if (previous) {
        // Activities under way keep the client they hold; new ones take the new client.
        retired.add(previous);
        setTimeout(() => {
          if (retired.delete(previous)) previous.destroy();
        }, RETIRED_CLIENT_LIFETIME_MS).unref();
        logger.info(
          { site, endpoint: entry.endpoint, region: entry.region, profile: entry.profile },
          'site connection changed: new S3 client for the next activities',
        );
      }
    }
    reportOnce('removed', plan.removed, (site) =>
      logger.warn(
        { site },
        'site removed from the config: still served until the worker restarts, so its queued work drains',
      ),
    );
    reportOnce('unused', plan.unused, (site) =>
      logger.info(
        { site },
        'no replication rule sends to the site any more: still served, queued work drains',
      ),
    );
    reportOnce('notServed', plan.notServed, (site) =>
      logger.info(
        { site, sites: gate.served() },
        'new destination site in the config, not served by this worker (started with --sites)',
      ),
    );
    if (plan.start.length > 0 && config.worker.metricsPort > 0) workerMetrics().initSites(plan.start);
    await Promise.all(
      plan.start.map(async (site) => {
        const taskQueue = taskQueueFor(prefix, site);
        try {
          const state = await gate.add(site);
          if (state === 'running') logger.info({ site, taskQueue }, 'new destination site: serving it');
          else if (state === 'paused')
            logger.info({ site, taskQueue }, 'new destination site: paused, served once resumed');
        } catch (err) {
          logger.error(
            { site, taskQueue, err: (err as Error).message },
            'new destination site: its worker could not start (tried again at the next config change)',
          );
        }
      }),
    );
  };
  const configWatcher = options.configFile
    ? watchEngineConfig(options.configFile, config, logger, options.configPollMs ?? 2_000, process.env, {
        fixedConnections: [],
        onChange: reloadSites,
      })
    : undefined;

  let stopped: Promise<void> | undefined;
  const run = async () => {
    try {
      // The Temporal runtime turns SIGINT/SIGTERM into a shutdown of every Worker; the gate
      // then stops watching (see SiteGate) and both promises settle once in-flight work drained.
      await Promise.all([controlWorker.run().finally(() => gate.stop()), gate.done()]);
    } finally {
      configWatcher?.stop();
      closed = true;
      await configWatcher?.idle();
      await producer.disconnect().catch(() => undefined);
      backfillScopes.stop();
      await temporal.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
      for (const client of [...clients.values(), ...retired]) client.destroy();
      retired.clear();
    }
  };
  return {
    sites: () => gate.states(),
    reloadSites,
    run: () => (stopped ??= run()),
    async shutdown() {
      configWatcher?.stop();
      const stopping = gate.stop();
      if (controlWorker.getState() === 'RUNNING') controlWorker.shutdown();
      await stopping;
      await stopped;
    },
  };
}

/** Whether the task's destination bucket has a rule sending it back to the task's source (two-way). */
function replicatesBack(config: EngineConfig, task: ReplicationTask): boolean {
  const back = rulesOf(config, task.target.bucket, task.target.site);
  const source = task.entry.sourceSite ?? config.sourceSite;
  return (back?.Rules ?? []).some(
    (rule) =>
      rule.Status === 'Enabled' &&
      bucketOfArn(rule.Destination.Bucket) === task.entry.bucket &&
      siteOfRule(config, rule).includes(source),
  );
}

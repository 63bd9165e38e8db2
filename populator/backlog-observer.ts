import type { Client } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';
import { destinationSites, type EngineConfig } from '../config/engine-config';
import type { PopulatorMetrics, SiteBacklog } from '../metrics/populator-metrics';
import { countSiteBacklog } from '../operations/backlog';
import { taskQueueFor } from '../shared/workflow-contract';

/** How often the backlog is counted. */
export const BACKLOG_INTERVAL_MS = 15_000;
/** Longest wait for one count (visibility or Kafka) before the round is given up. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Failures are logged at most this often (each is counted in crr_backlog_refresh_failures_total). */
const WARN_EVERY_MS = 5 * 60_000;

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} timed out after ${REQUEST_TIMEOUT_MS} ms`)),
        REQUEST_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface BacklogObserverDeps {
  config: EngineConfig;
  temporal: Client;
  /** Reads the journal's high watermarks and the group's committed offsets; no lag refresh without it. */
  admin?: Admin;
  metrics: PopulatorMetrics;
  logger: Logger;
  /** The journal partitions this populator consumes (populator.assignedPartitions). */
  assignedPartitions: () => readonly number[];
  intervalMs?: number;
}

/**
 * Every 15 s: per destination site, the keys waiting (and the age of the oldest) and the keys
 * FAILED, counted in Temporal's visibility store; and the consumer lag of this populator's
 * partitions from Kafka (high watermark minus committed offset), which keeps growing when
 * consumption stalls, unlike the lag the lanes report as they go. One round at a time, each
 * request bounded in time; a failed round is counted, logged now and then, and the previous
 * values stay (crr_backlog_refreshed_timestamp_seconds tells how old they are). Started by
 * populator/main.ts when metrics are served.
 */
export function startBacklogObserver(deps: BacklogObserverDeps): { stop(): Promise<void> } {
  const { config, metrics, logger } = deps;
  const topic = config.kafka.journalTopic;
  let round: Promise<void> | undefined;
  let stopped = false;
  const lastWarned = { temporal: 0, kafka: 0 };

  const failed = (source: 'temporal' | 'kafka', err: unknown) => {
    metrics.backlogFailed(source);
    if (Date.now() - lastWarned[source] < WARN_EVERY_MS) return;
    lastWarned[source] = Date.now();
    logger.warn(
      { source, err: (err as Error).message },
      source === 'temporal'
        ? 'could not count pending replications for the metrics (retried every 15 s)'
        : 'could not read the journal consumer lag for the metrics (retried every 15 s)',
    );
  };

  const countBacklog = async () => {
    const count = async (query: string) =>
      Number((await withTimeout(deps.temporal.workflow.count(query), 'counting workflows')).count);
    const found: Array<[string, SiteBacklog]> = [];
    // Read each round: a site added to the config while running is counted too.
    for (const site of destinationSites(config)) {
      if (stopped) return;
      found.push([site, await countSiteBacklog(count, taskQueueFor(config.temporal.taskQueuePrefix, site))]);
    }
    if (stopped) return;
    for (const [site, backlog] of found) metrics.backlog(site, backlog);
    metrics.backlogCounted();
  };

  const readLag = async (admin: Admin) => {
    const partitions = deps.assignedPartitions();
    if (partitions.length === 0) return;
    await withTimeout(admin.connect(), 'connecting to Kafka');
    const [ends, committed] = await withTimeout(
      Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: config.kafka.consumerGroup, topics: [topic] }),
      ]),
      'reading journal offsets',
    );
    if (stopped) return;
    const commits = committed.find((t) => t.topic === topic)?.partitions ?? [];
    // Assigned partitions only: with several populators in the group, each reports its own.
    for (const partition of deps.assignedPartitions()) {
      const end = ends.find((e) => e.partition === partition);
      if (!end) continue;
      const commit = commits.find((c) => c.partition === partition)?.offset;
      metrics.lag(partition, end.high, commit !== undefined && commit !== '-1' ? commit : end.low);
    }
  };

  const refresh = () => {
    if (round || stopped) return;
    round = (async () => {
      await Promise.all([
        countBacklog().catch((err: unknown) => failed('temporal', err)),
        deps.admin ? readLag(deps.admin).catch((err: unknown) => failed('kafka', err)) : undefined,
      ]);
    })().finally(() => {
      round = undefined;
    });
  };

  refresh();
  const timer = setInterval(refresh, deps.intervalMs ?? BACKLOG_INTERVAL_MS);
  timer.unref();
  return {
    /** Stops counting; a round in flight is abandoned (its requests fail or are ignored). */
    async stop() {
      stopped = true;
      clearInterval(timer);
      await deps.admin?.disconnect().catch(() => undefined);
    },
  };
}

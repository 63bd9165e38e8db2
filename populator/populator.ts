import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { StatusPublisher } from '../clients/status-publisher';
import { journalTopicsOf, type EngineConfig } from '../config/engine-config';
import type { JournalMessage } from '../shared/journal-entry';
import { offsetAfter, populatorMetrics, type PopulatorMetrics } from '../metrics/populator-metrics';
import {
  processChunk,
  type ChunkControl,
  type ChunkDeps,
  type TemporalReachability,
} from './chunk-processor';
import { PartitionLane } from './partition-lane';
import { PopulatorStats } from './populator-stats';
import type { TagsLookup } from './replication-planner';
import { createTagsLookup, createVersioningLookup } from './source-lookups';

export interface PopulatorDeps {
  config: EngineConfig;
  consumer: Consumer;
  producer: Producer;
  temporal: Client;
  /** The source sites' S3 clients (one client: the default source site's). */
  source: S3Client | ((site: string) => S3Client);
  status: StatusPublisher;
  logger: Logger;
  /** Prometheus counts; the process's registry by default (served only when an entry point starts the server). */
  metrics?: PopulatorMetrics;
}

function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function toJournalMessage(topic: string, partition: number, m: KafkaMessage): JournalMessage {
  return { key: m.key, value: m.value, topic, partition, offset: m.offset };
}

/**
 * Consumes the metadata journal and signal-starts one workflow per (site, bucket, key).
 *
 * Partitions are independent lanes. kafkajs fetches all assigned partitions together and
 * fetches again only once every batch of a fetch was handled (its fetcher awaits the whole
 * worker queue), so one slow batch would hold every partition. Here `eachBatch` pauses its
 * partition and hands the batch to the partition's lane; it waits at most `handoffMs` (a
 * fast batch finishes within the fetch, as before), then returns. The lane processes the
 * batch chunk by chunk, resolves and commits each chunk's offsets once Temporal accepted all
 * of it, and resumes the partition when done. kafkajs fetches a partition from its resolved
 * offset (offsetManager.nextOffset) and leaves paused partitions out of fetches, so a
 * resumed partition continues right after what its lane resolved.
 *
 * Within a partition, a key whose signal Temporal keeps refusing is handed off after
 * `parkAfterMs` (PartitionLane): the lane resolves the chunk and goes on, that key's later
 * tasks wait behind it, and the commit stays at the oldest chunk not done. Offsets are
 * therefore committed by the lanes only (autoCommit off): kafkajs would commit what was
 * resolved, which may be past a chunk still in the background.
 *
 * At-least-once: on a rebalance (GROUP_JOIN) or stop, lanes stop at their next step without
 * resolving or committing what they had not finished; that is fetched again from the
 * committed offset (duplicates are dropped by the workflows and the target). The group is
 * heartbeated every `heartbeatIntervalMs` while lanes work, so no chunk, however long, costs
 * the membership.
 */
export function createPopulator(deps: PopulatorDeps) {
  const { config, consumer, producer, logger } = deps;
  const settings = config.populator;
  const stats = new PopulatorStats();
  const metrics = deps.metrics ?? populatorMetrics();
  // Tags and versioning are read on the site the journal entry came from.
  const sourceOf = typeof deps.source === 'function' ? deps.source : () => deps.source as S3Client;
  const lookups = new Map<
    string,
    { tags: TagsLookup; versioning: ReturnType<typeof createVersioningLookup> }
  >();
  const lookupsOf = (site = config.sourceSite) => {
    let found = lookups.get(site);
    if (!found) {
      const client = sourceOf(site);
      found = {
        tags: createTagsLookup(client, settings.planningRetryMs),
        versioning: createVersioningLookup(client, settings.versioningCacheMs),
      };
      lookups.set(site, found);
    }
    return found;
  };
  // Every source site's journal topic: the default one first.
  const journalTopics = journalTopicsOf(config);
  /** The lag series of a partition: its number on the default journal topic, `<topic>/<n>` on others. */
  const lagLabel = (topic: string, partition: number) =>
    topic === config.kafka.journalTopic ? partition : `${topic}/${partition}`;
  const reachability: TemporalReachability = { unreachableSince: undefined };
  const chunkDeps: ChunkDeps = {
    config,
    temporal: deps.temporal,
    producer,
    status: deps.status,
    logger,
    stats,
    lookupTags: (entry) => lookupsOf(entry.sourceSite).tags(entry),
    versioning: (bucket, maxAgeMs, site) => lookupsOf(site).versioning(bucket, maxAgeMs),
    metrics,
    reachability,
  };
  /** Partitions of the journal topic assigned to this populator at the last join. */
  let assigned: number[] = [];

  const lanes = new Map<string, PartitionLane>();
  /** Each partition's latest batch payload: its commit call serves the lane's commits. */
  const payloads = new Map<string, EachBatchPayload>();
  // Bumped on every rebalance: lanes of an older generation stop and resolve nothing more.
  let generation = 0;
  let stopping = false;
  // Aborted (and replaced) on every rebalance and at stop, to cut lanes' waits short.
  let wake = new AbortController();
  let heartbeat: (() => Promise<void>) | undefined;
  const timers: NodeJS.Timeout[] = [];
  const unsubscribe: Array<() => void> = [];

  const newGeneration = (why: string) => {
    generation++;
    wake.abort();
    wake = new AbortController();
    const busy = [...lanes.values()].filter((lane) => lane.busy()).length;
    if (busy > 0)
      logger.info({ why, lanes: busy }, 'partition lanes stop: unfinished chunks will be redelivered');
  };

  /** The partition's lane for this generation; a new one after a rebalance or a failed chunk. */
  const laneFor = (topic: string, partition: number): PartitionLane => {
    const laneKey = `${topic}/${partition}`;
    const previous = lanes.get(laneKey);
    if (previous && previous.generation === generation && !previous.failed) return previous;
    const laneGeneration = generation;
    const lane = new PartitionLane(
      laneGeneration,
      {
        parkAfterMs: settings.parkAfterMs,
        parkedChunksMax: settings.parkedChunksMax,
        holdHandOff: () => reachability.unreachableSince !== undefined,
        logger: logger.child({ topic, partition }),
        // Still true while stopping: chunks Temporal accepts before the consumer leaves are committed.
        current: () => laneGeneration === generation,
        kafka: {
          commit: async (next) => {
            const payload = payloads.get(laneKey);
            if (!payload) return;
            // The lag counts from the commit: a key left in the background still shows.
            metrics.lag(lagLabel(topic, partition), payload.batch.highWatermark, next);
            await payload.commitOffsetsIfNecessary({
              topics: [{ topic, partitions: [{ partition, offset: next }] }],
            });
          },
          seek: (offset) => consumer.seek({ topic, partition, offset }),
        },
      },
      previous,
    );
    lanes.set(laneKey, lane);
    return lane;
  };

  const runBatch = async (payload: EachBatchPayload, lane: PartitionLane) => {
    const { topic, partition, messages } = payload.batch;
    const signal = wake.signal;
    const control: ChunkControl = {
      interrupted: () => stopping || lane.generation !== generation,
      sleep: (ms) => sleepUnless(ms, signal),
    };
    for (let i = 0; i < messages.length; i += settings.chunkSize) {
      // A stale batch was fetched before a seek (after a failed chunk): it is fetched again.
      if (control.interrupted() || lane.failed || payload.isStale()) return;
      const chunk = messages.slice(i, i + settings.chunkSize);
      const last = chunk[chunk.length - 1]!.offset;
      const started = Date.now();
      await lane.run({ first: chunk[0]!.offset, next: offsetAfter(last) }, async (keys, handedOff) => {
        const result = await processChunk(
          chunkDeps,
          control,
          chunk.map((m) => toJournalMessage(topic, partition, m)),
          { keys, handedOff },
        );
        logger.debug(
          { partition, messages: chunk.length, signalled: result.signalled, ms: Date.now() - started },
          result.completed ? 'chunk accepted' : 'chunk interrupted',
        );
        return result;
      });
      // Only the generation that fetched a chunk may resolve it; after a rebalance it is
      // redelivered. Resolving moves the fetch on; the lane commits once the chunk is done.
      if (control.interrupted() || lane.failed) return;
      payload.resolveOffset(last);
    }
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    heartbeat = payload.heartbeat;
    const { topic, partition, messages } = payload.batch;
    if (messages.length === 0 || stopping) return;
    metrics.lag(lagLabel(topic, partition), payload.batch.highWatermark, messages[0]!.offset);
    // Paused, the partition is left out of fetches until its lane has handed off this batch.
    const resume = payload.pause();
    payloads.set(`${topic}/${partition}`, payload);
    const lane = laneFor(topic, partition);
    const laneGeneration = lane.generation;
    const handedOff = lane
      .enqueue(() => runBatch(payload, lane))
      .catch((err: unknown) => {
        // runBatch does not throw; if it did, the batch is not resolved and is fetched again.
        logger.error({ topic, partition, err: (err as Error).message }, 'partition lane failed');
      })
      .finally(() => {
        // A newer generation resumed everything it was assigned on joining.
        if (laneGeneration === generation) resume();
      });
    // A fast batch completes within this fetch (no extra latency); a slow one goes on alone.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      handedOff,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, settings.handoffMs);
      }),
    ]);
    clearTimeout(timer);
  };

  const logSummary = (final: boolean) => {
    if (!final && !stats.active) return;
    logger.info({ summary: stats.summary() }, final ? 'populator summary at stop' : 'populator summary');
  };

  return {
    /** Counts since the last summary; for tests and diagnostics. */
    stats,
    /** The journal partitions this populator consumes (since its last join to the group). */
    assignedPartitions: (): readonly number[] => assigned,
    async start(): Promise<void> {
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topics: journalTopics, fromBeginning: true });
      const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events;
      unsubscribe.push(
        consumer.on(REBALANCING, () => newGeneration('rebalancing')),
        consumer.on(CRASH, () => newGeneration('consumer crashed')),
        consumer.on(GROUP_JOIN, (event) => {
          newGeneration('joined the group');
          const assignment = event?.payload?.memberAssignment;
          if (assignment) {
            assigned = [...(assignment[config.kafka.journalTopic] ?? [])];
            metrics.keepPartitions(
              journalTopics.flatMap((topic) => (assignment[topic] ?? []).map((p) => lagLabel(topic, p))),
            );
          }
          // Pauses outlive a rebalance in kafkajs: whatever is assigned now is fetched again.
          try {
            consumer.resume(journalTopics.map((topic) => ({ topic })));
          } catch (err) {
            logger.warn({ err: (err as Error).message }, 'could not resume partitions after joining');
          }
        }),
      );
      timers.push(
        setInterval(() => {
          if (heartbeat && [...lanes.values()].some((lane) => lane.busy())) {
            heartbeat().catch((err: unknown) =>
              logger.debug({ err: (err as Error).message }, 'heartbeat failed (the group rejoins)'),
            );
          }
        }, settings.heartbeatIntervalMs),
        setInterval(() => logSummary(false), settings.summaryIntervalMs),
      );
      for (const timer of timers) timer.unref();
      await consumer.run({
        eachBatchAutoResolve: false,
        // The lanes commit (never past a chunk still in the background).
        autoCommit: false,
        partitionsConsumedConcurrently: settings.partitionsConsumedConcurrently,
        eachBatch,
      });
      logger.info({ topics: journalTopics, group: config.kafka.consumerGroup }, 'populator consuming');
    },
    /** Lanes stop at their next signal, having committed every chunk Temporal fully accepted; then the consumer leaves. */
    async stop(): Promise<void> {
      stopping = true;
      wake.abort();
      await Promise.allSettled([...lanes.values()].map((lane) => lane.idle()));
      for (const timer of timers) clearInterval(timer);
      for (const off of unsubscribe) off();
      logSummary(true);
      assigned = [];
      metrics.keepPartitions([]);
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

import { GetObjectTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { statusEvent, type StatusPublisher } from '../activities/status-publisher';
import type { EngineConfig } from '../config/engine-config';
import type { JournalEntry, JournalMessage } from '../shared/journal-entry';
import type { ReplicationTask } from '../shared/replication-task';
import { replicationWorkflowId } from '../shared/workflow-id';
import { deadLetterOf, sendDeadLetters, type DeadLetter } from './dead-letter';
import { decodeJournalMessage } from './journal/decode-journal-message';
import { planReplication } from './replication-planner';
import { isPermanentTemporalError, signalReplicationTask } from './workflow-signaller';

export interface PopulatorDeps {
  config: EngineConfig;
  consumer: Consumer;
  producer: Producer;
  temporal: Client;
  source: S3Client;
  status: StatusPublisher;
  logger: Logger;
}

// A chunk's offset is resolved only once Temporal accepted all of it, and kafkajs commits the
// resolved offsets after every batch: a restart redoes at most one chunk per partition.
const CHUNK_SIZE = 500;
const MAX_BACKOFF_MS = 30_000;

class PopulatorStopping extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Consumes the metadata journal and signal-starts one workflow per (site, bucket, key).
 * A partition's offset is committed only once Temporal accepted every entry before it
 * (at-least-once; the workflows drop duplicates). While Temporal is unreachable the batch
 * waits and retries with backoff, heartbeating so the group keeps its partitions.
 */
export function createPopulator(deps: PopulatorDeps) {
  const { config, consumer, producer, logger } = deps;
  const limit = pLimit(config.populator.signalConcurrency);

  const lookupTags = async (entry: JournalEntry) => {
    const tags = await deps.source.send(
      new GetObjectTaggingCommand({
        Bucket: entry.bucket,
        Key: entry.key,
        VersionId: entry.versionId === 'null' ? undefined : entry.versionId,
      }),
    );
    return Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  };

  /** Retries `work` until it succeeds, the error is permanent, or the consumer stops. */
  const untilDone = async <T>(
    what: string,
    work: () => Promise<T>,
    payload: EachBatchPayload,
  ): Promise<T> => {
    let delay = 250;
    for (;;) {
      try {
        return await work();
      } catch (err) {
        if (isPermanentTemporalError(err)) throw err;
        if (!payload.isRunning() || payload.isStale()) throw new PopulatorStopping(what);
        logger.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed; will retry`);
        await sleep(delay);
        await payload.heartbeat().catch(() => undefined);
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
    }
  };

  const toJournalMessage = (topic: string, partition: number, m: KafkaMessage): JournalMessage => ({
    key: m.key,
    value: m.value,
    topic,
    partition,
    offset: m.offset,
  });

  const processChunk = async (payload: EachBatchPayload, messages: KafkaMessage[]) => {
    const { topic, partition } = payload.batch;
    const deadLetters: DeadLetter[] = [];
    const tasks: ReplicationTask[] = [];
    for (const m of messages) {
      const message = toJournalMessage(topic, partition, m);
      const decoded = decodeJournalMessage(message);
      if (!decoded.ok) {
        logger.warn(
          { topic, partition, offset: m.offset, reason: decoded.reason },
          'undecodable journal message',
        );
        deadLetters.push(deadLetterOf(message, decoded.reason));
        continue;
      }
      for (const entry of decoded.entries) {
        try {
          const plan = await untilDone('planning', () => planReplication(entry, config, lookupTags), payload);
          if (plan.skipped)
            logger.debug({ bucket: entry.bucket, key: entry.key, reason: plan.skipped }, 'not replicated');
          tasks.push(...plan.tasks);
        } catch (err) {
          if (err instanceof PopulatorStopping) throw err;
          deadLetters.push(deadLetterOf(message, `planning failed: ${(err as Error).message}`));
        }
      }
    }

    // Ordered within a key, parallel across keys.
    const byWorkflow = new Map<string, ReplicationTask[]>();
    for (const task of tasks) {
      const id = replicationWorkflowId(task.target.site, task.entry.bucket, task.entry.key);
      byWorkflow.set(id, [...(byWorkflow.get(id) ?? []), task]);
    }
    const rejected: DeadLetter[] = [];
    await Promise.all(
      [...byWorkflow.values()].map((keyTasks) =>
        limit(async () => {
          for (const task of keyTasks) {
            try {
              await untilDone(
                'signalling Temporal',
                () => signalReplicationTask(deps.temporal, config, task),
                payload,
              );
            } catch (err) {
              if (err instanceof PopulatorStopping) throw err;
              const origin = messages.find(
                (m) => m.key?.toString() === `${task.entry.bucket}/${task.entry.key}`,
              );
              rejected.push({
                ...deadLetterOf(toJournalMessage(topic, partition, origin ?? messages[0]!), ''),
                reason: `Temporal rejected the replication of s3://${task.entry.bucket}/${task.entry.key} version ${task.entry.versionId} to ${task.target.site}: ${(err as Error).message}`,
              });
            }
          }
        }),
      ),
    );
    deadLetters.push(...rejected);
    if (deadLetters.length > 0) {
      await untilDone(
        'dead-lettering',
        () => sendDeadLetters(producer, config.kafka.deadLetterTopic, deadLetters),
        payload,
      );
    }
    await deps.status
      .publish(tasks.map((task) => statusEvent(task, 'PENDING')))
      .catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, 'could not publish PENDING statuses'),
      );
    return tasks.length;
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    const { messages } = payload.batch;
    for (let i = 0; i < messages.length; i += CHUNK_SIZE) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = messages.slice(i, i + CHUNK_SIZE);
      try {
        const signalled = await processChunk(payload, chunk);
        logger.debug(
          { partition: payload.batch.partition, messages: chunk.length, signalled },
          'chunk accepted',
        );
      } catch (err) {
        if (err instanceof PopulatorStopping) return; // uncommitted: redelivered after restart
        throw err;
      }
      payload.resolveOffset(chunk[chunk.length - 1]!.offset);
      await payload.commitOffsetsIfNecessary();
      await payload.heartbeat();
    }
  };

  return {
    async start(): Promise<void> {
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topic: config.kafka.journalTopic, fromBeginning: true });
      // Partitions are independent (a key always maps to one partition): handle them in parallel.
      await consumer.run({
        eachBatchAutoResolve: false,
        autoCommit: true,
        partitionsConsumedConcurrently: config.populator.partitionsConsumedConcurrently,
        eachBatch,
      });
      logger.info(
        { topic: config.kafka.journalTopic, group: config.kafka.consumerGroup },
        'populator consuming',
      );
    },
    async stop(): Promise<void> {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

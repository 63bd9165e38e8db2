import fs from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { listKeyHistory, type ListedVersion } from '../../support/ordered-versions';
import { consumerLag } from './kafka-tools';
import type { ScenarioEngine } from './engine';
import type { FaultStack } from './fault-stack';

/** Polls one key's history on a bucket until `done` holds; the last history when it never does. */
export async function waitForHistory(
  s3: S3Client,
  bucket: string,
  key: string,
  done: (history: ListedVersion[]) => boolean,
  timeoutMs = 60_000,
): Promise<{ ok: boolean; history: ListedVersion[]; ms: number }> {
  const started = Date.now();
  let history: ListedVersion[] = [];
  for (;;) {
    history = await listKeyHistory(s3, bucket, key).catch(() => history);
    if (done(history)) return { ok: true, history, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) return { ok: false, history, ms: Date.now() - started };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Polls until the scenario's consumer group has read the journal to its end; the time it took. */
export async function waitForJournalRead(
  stack: FaultStack,
  engine: ScenarioEngine,
  timeoutMs: number,
): Promise<{ ok: boolean; ms: number; lag?: number }> {
  const started = Date.now();
  let lag: number | undefined;
  for (;;) {
    lag = (
      await consumerLag(
        stack.kafka,
        engine.config.kafka.consumerGroup,
        engine.config.kafka.journalTopic,
      ).catch(() => undefined)
    )?.total;
    if (lag === 0) return { ok: true, ms: Date.now() - started, lag };
    if (Date.now() - started > timeoutMs) return { ok: false, ms: Date.now() - started, lag };
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Polls until the source MinIO's journal queue (events it stored on disk while Kafka was
 * unreachable) is empty, i.e. the source has handed every write to the journal. MinIO replays
 * that queue on its own schedule after the broker is back, so a check made before would
 * count its events as lost by the engine.
 */
export async function waitForSourceEventQueue(
  stack: FaultStack,
  timeoutMs: number,
): Promise<{ ok: boolean; ms: number; queued: number }> {
  const dir = path.join(stack.info.stateDir, 'data', 'source-events');
  const started = Date.now();
  for (;;) {
    // MinIO keeps one file per queued event, in a folder per notification target.
    const queued = fs.existsSync(dir)
      ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length
      : 0;
    if (queued === 0) return { ok: true, ms: Date.now() - started, queued };
    if (Date.now() - started > timeoutMs) return { ok: false, ms: Date.now() - started, queued };
    await new Promise((r) => setTimeout(r, 500));
  }
}

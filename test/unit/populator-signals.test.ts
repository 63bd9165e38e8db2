import type { Client } from '@temporalio/client';
import type { Producer, ProducerRecord } from 'kafkajs';
import pino from 'pino';
import type { StatusEvent, StatusPublisher } from '../../clients/status-publisher';
import {
  processChunk,
  refusalKind,
  type ChunkControl,
  type ChunkDeps,
} from '../../populator/chunk-processor';
import { PopulatorStats } from '../../populator/populator-stats';
import type { VersioningStatus } from '../../populator/source-lookups';
import { classifyTemporalError, tasksBySignal } from '../../populator/workflow-signaller';
import type { JournalMessage } from '../../shared/journal-entry';
import type { ReplicationTask } from '../../shared/replication-task';
import { MAX_TASKS_PER_SIGNAL } from '../../shared/workflow-contract';
import { photosToWestConfig } from '../support/unit-config';

const config = photosToWestConfig({ keyRetryMs: 300, maxBackoffMs: 200 });

let offset = 0;
function put(
  key: string,
  versionId: string | undefined,
  extra: Record<string, unknown> = {},
): JournalMessage {
  const object = { key, size: 5, versionId, sequencer: (1000 + offset).toString(16), ...extra };
  const value = {
    Records: [
      {
        eventTime: '2026-11-24T10:00:00Z',
        eventName: 's3:ObjectCreated:Put',
        s3: { bucket: { name: 'photos' }, object },
      },
    ],
  };
  return {
    key: Buffer.from(`photos/${key}`),
    value: Buffer.from(JSON.stringify(value)),
    topic: 'crr-journal',
    partition: 2,
    offset: String(offset++),
  };
}

interface Harness {
  deps: ChunkDeps;
  signals: ReplicationTask[][];
  letters: Array<Record<string, unknown>>;
  statuses: StatusEvent[];
  stats: PopulatorStats;
}

function harness(
  signal: (tasks: ReplicationTask[]) => Promise<unknown> = async () => undefined,
  versioning: VersioningStatus = 'Enabled',
): Harness {
  const signals: ReplicationTask[][] = [];
  const letters: Array<Record<string, unknown>> = [];
  const statuses: StatusEvent[] = [];
  const stats = new PopulatorStats();
  const producer = {
    send: async (r: ProducerRecord) =>
      void letters.push(...r.messages.map((m) => JSON.parse(m.value as string))),
  } as unknown as Producer;
  const status: StatusPublisher = { publish: async (events) => void statuses.push(...events) };
  return {
    signals,
    letters,
    statuses,
    stats,
    deps: {
      config,
      temporal: {} as Client,
      producer,
      status,
      logger: pino({ level: 'silent' }),
      stats,
      lookupTags: async () => ({ tags: {} }),
      versioning: async () => versioning,
      signal: async (tasks) => {
        signals.push(tasks);
        await signal(tasks);
      },
    },
  };
}

const running: ChunkControl = {
  interrupted: () => false,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

function grpcError(code: number, details: string) {
  return Object.assign(new Error('Failed to signalWithStart Workflow'), {
    cause: Object.assign(new Error(details), { code, details }),
  });
}

describe('batching of tasks per key into signals', () => {
  test('tasksBySignal keeps journal order per key and cuts at MAX_TASKS_PER_SIGNAL', () => {
    const task = (key: string, n: number): ReplicationTask => ({
      entry: {
        bucket: 'b',
        key,
        versionId: `v${n}`,
        operation: 'put',
        size: 1,
        eventTime: 't',
        sequence: String(n),
      },
      target: { site: 'west', bucket: 'dst', ruleId: 'r', replicateDeleteMarkers: true },
    });
    const items = [
      ...Array.from({ length: 250 }, (_, n) => task('hot', n)),
      task('cold', 0),
      task('hot', 250),
    ];
    const groups = tasksBySignal(items, (t) => t);
    expect(groups.map((g) => [g.workflowId, g.pieces.map((p) => p.length)])).toEqual([
      ['crr/west/b/hot', [100, 100, 51]],
      ['crr/west/b/cold', [1]],
    ]);
    expect(groups[0]!.pieces.flat().map((t) => t.entry.versionId)).toEqual(
      Array.from({ length: 251 }, (_, n) => `v${n}`),
    );
    // The same key to two sites is two workflows.
    const east = { ...task('hot', 0), target: { ...task('hot', 0).target, site: 'east' } };
    expect(tasksBySignal([task('hot', 0), east], (t) => t)).toHaveLength(2);
  });

  test('a burst of 1,200 overwrites of one key goes out in 12 signals, in order', async () => {
    const h = harness();
    const burst = Array.from({ length: 1200 }, (_, i) => put('hot', `v${i}`));
    const others = Array.from({ length: 5 }, (_, i) => put(`cold-${i}`, 'x'));
    const { completed, signalled } = await processChunk(
      { ...h.deps, config: { ...config, populator: { ...config.populator, chunkSize: 2000 } } },
      running,
      [...burst, ...others],
    );
    expect(completed).toBe(true);
    expect(signalled).toBe(1205);
    const hot = h.signals.filter((s) => s[0]!.entry.key === 'hot');
    expect(hot).toHaveLength(1200 / MAX_TASKS_PER_SIGNAL);
    expect(hot.every((s) => s.length <= MAX_TASKS_PER_SIGNAL && s.every((t) => t.entry.key === 'hot'))).toBe(
      true,
    );
    expect(hot.flat().map((t) => t.entry.versionId)).toEqual(burst.map((_, i) => `v${i}`));
    expect(h.signals).toHaveLength(12 + 5);
    expect(h.statuses).toHaveLength(1205);
    expect(h.statuses.every((s) => s.status === 'PENDING')).toBe(true);
  });
});

describe('every retry loop is bounded or isolated to its key', () => {
  test('a key Temporal keeps refusing is dead-lettered after keyRetryMs; other keys go through', async () => {
    const h = harness(async (tasks) => {
      if (tasks[0]!.entry.key === 'busy') throw grpcError(8, 'namespace rate limit exceeded');
    });
    const messages = [put('busy', 'b1'), put('fine', 'f1'), put('busy', 'b2')];
    const started = Date.now();
    const { completed, signalled } = await processChunk(h.deps, running, messages);
    expect(completed).toBe(true);
    expect(signalled).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(h.letters.map((l) => l.offset)).toEqual([messages[0]!.offset, messages[2]!.offset]);
    expect(h.letters[0]).toMatchObject({
      kind: 'signal refused',
      reason: expect.stringMatching(
        /RESOURCE_EXHAUSTED: namespace rate limit exceeded.*s3:\/\/photos\/busy version b1 to site west/,
      ),
      value: messages[0]!.value!.toString(),
    });
    expect(h.stats.summary().deadLettered).toEqual({ 'signal refused': 2 });
  });

  test('an invalid request is dead-lettered at once', async () => {
    const h = harness(async () => {
      throw grpcError(3, 'Blob data size exceeds limit.');
    });
    await processChunk(h.deps, running, [put('k', 'v')]);
    expect(h.signals).toHaveLength(1);
    expect(h.letters[0]).toMatchObject({
      kind: 'signal rejected',
      reason: expect.stringMatching(/INVALID_ARGUMENT/),
    });
  });

  test('while Temporal is unreachable the chunk waits, skips nothing, and stops when interrupted', async () => {
    const h = harness(async () => {
      throw grpcError(14, 'connect ECONNREFUSED');
    });
    let stop = false;
    setTimeout(() => (stop = true), 400);
    const control: ChunkControl = { interrupted: () => stop, sleep: running.sleep };
    const { completed } = await processChunk(h.deps, control, [put('k', 'v'), put('j', 'v')]);
    expect(completed).toBe(false);
    expect(h.signals.length).toBeGreaterThan(2); // retried, well past keyRetryMs worth of refusals
    expect(h.letters).toEqual([]);
    expect(h.statuses).toEqual([]);
  });

  test.each([
    [14, 'unavailable'],
    [4, 'unavailable'],
    [undefined, 'unavailable'],
    [8, 'refused'],
    [9, 'refused'],
    [13, 'refused'],
    [3, 'permanent'],
  ])('gRPC code %p is %s', (code, expected) => {
    const err = code === undefined ? new Error('socket hang up') : grpcError(code, 'x');
    expect(classifyTemporalError(err)).toBe(expected);
  });

  test("Temporal's per-workflow signal limit (an invalid argument) is retried like a refusal", () => {
    expect(classifyTemporalError(grpcError(3, 'exceeded workflow execution limit for signal events'))).toBe(
      'refused',
    );
  });
});

describe('validation against the source bucket, and counts', () => {
  test('a put without versionId in a bucket whose versioning is Enabled is dead-lettered', async () => {
    const h = harness(undefined, 'Enabled');
    await processChunk(h.deps, running, [put('nov', undefined), put('ok', 'v1')]);
    expect(h.signals.flat().map((t) => t.entry.key)).toEqual(['ok']);
    expect(h.letters).toMatchObject([
      { kind: 'invalid versionId', reason: expect.stringMatching(/versionId is missing/) },
    ]);
  });

  test('when versioning cannot be read (or is off), such entries are accepted as version "null"', async () => {
    for (const status of ['unknown', 'Suspended', 'Unversioned'] as const) {
      const h = harness(undefined, status);
      await processChunk(h.deps, running, [put('nov', undefined)]);
      expect(h.signals.flat().map((t) => t.entry.versionId)).toEqual(['null']);
      expect(h.letters).toEqual([]);
    }
  });

  test('bad messages are dead-lettered by field, skipped events counted, good ones signalled', async () => {
    const h = harness();
    const read = put('r', 'v');
    read.value = Buffer.from(read.value!.toString().replace('s3:ObjectCreated:Put', 's3:ObjectAccessed:Get'));
    const messages = [
      put('a', 'v', { size: 1e300 }),
      read,
      put('b', 'v'),
      { ...put('c', 'v'), value: Buffer.from('{') },
    ];
    await processChunk(h.deps, running, messages);
    expect(h.signals.flat().map((t) => t.entry.key)).toEqual(['b']);
    const summary = h.stats.summary();
    expect(summary).toMatchObject({
      messages: 4,
      entries: 1,
      signalled: 1,
      signals: 1,
      skipped: { 'event s3:ObjectAccessed:Get': 1 },
      deadLettered: { 'invalid s3.object.size': 1, 'invalid (value)': 1 },
    });
    expect(h.letters.map((l) => l.offset)).toEqual([messages[0]!.offset, messages[3]!.offset]);
  });

  test('dead-letter counts use a bounded category of the field, never user-chosen names', () => {
    expect(refusalKind('s3.object.size')).toBe('invalid s3.object.size');
    expect(refusalKind('s3.object.userMetadata.x-amz-meta-anything')).toBe('invalid s3.object.userMetadata');
    expect(refusalKind('value.tags.secret')).toBe('invalid value.tags');
    expect(refusalKind('value.replicationInfo.backends.3.site')).toBe(
      'invalid value.replicationInfo.backends',
    );
    expect(refusalKind(undefined)).toBe('invalid message');
  });
});

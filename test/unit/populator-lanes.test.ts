import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import pino from 'pino';
import { createPopulator } from '../../populator/populator';
import type { ReplicationTask } from '../../shared/replication-task';
import { photosToWestConfig } from '../support/unit-config';

/**
 * The populator's partition lanes against a stand-in for kafkajs's consumer that behaves like
 * the real one where it matters: eachBatch is awaited by the fetch, pause/resume per
 * partition, resolved offsets drive the next fetch, commits of explicit offsets.
 */
const TOPIC = 'crr-journal';

const lanesConfig = (settings: Record<string, unknown> = {}) =>
  photosToWestConfig({
    handoffMs: 50,
    heartbeatIntervalMs: 100,
    maxBackoffMs: 100,
    chunkSize: 2,
    ...settings,
  });
const config = lanesConfig();

class FakeConsumer {
  readonly events = {
    GROUP_JOIN: 'consumer.group_join',
    REBALANCING: 'consumer.rebalancing',
    CRASH: 'consumer.crash',
  } as const;
  readonly paused = new Set<number>();
  readonly resolved = new Map<number, string>();
  readonly committed = new Map<number, string>();
  readonly seeks: Array<{ partition: number; offset: string }> = [];
  heartbeats = 0;
  disconnected = false;
  private listeners = new Map<string, Array<() => void>>();
  eachBatch!: (payload: EachBatchPayload) => Promise<void>;

  async connect() {}
  async subscribe() {}
  async disconnect() {
    this.disconnected = true;
  }
  on(event: string, listener: () => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return () =>
      this.listeners.set(
        event,
        (this.listeners.get(event) ?? []).filter((l) => l !== listener),
      );
  }
  emit(event: string) {
    for (const listener of this.listeners.get(event) ?? []) listener();
  }
  resume() {
    this.paused.clear();
  }
  seek({ partition, offset }: { topic: string; partition: number; offset: string }) {
    this.seeks.push({ partition, offset });
  }
  async run({ eachBatch }: { eachBatch: (payload: EachBatchPayload) => Promise<void> }) {
    this.eachBatch = eachBatch;
  }

  /** What kafkajs's runner does with one fetched batch: awaits eachBatch. */
  deliver(partition: number, keys: string[], firstOffset = 0): Promise<void> {
    const messages: KafkaMessage[] = keys.map((key, i) => ({
      key: Buffer.from(`photos/${key}`),
      value: Buffer.from(
        JSON.stringify({
          Records: [
            {
              eventTime: '2026-11-24T10:00:00Z',
              eventName: 's3:ObjectCreated:Put',
              s3: { bucket: { name: 'photos' }, object: { key, size: 1, versionId: `v${firstOffset + i}` } },
            },
          ],
        }),
      ),
      offset: String(firstOffset + i),
      timestamp: '0',
      attributes: 0,
      headers: {},
    }));
    const payload = {
      batch: { topic: TOPIC, partition, messages },
      resolveOffset: (offset: string) => this.resolved.set(partition, String(Number(offset) + 1)),
      heartbeat: async () => {
        this.heartbeats++;
      },
      pause: () => {
        this.paused.add(partition);
        return () => this.paused.delete(partition);
      },
      uncommittedOffsets: () => ({
        topics: [
          {
            topic: TOPIC,
            partitions: [...this.resolved]
              .filter(([p, o]) => this.committed.get(p) !== o)
              .map(([p, offset]) => ({ partition: String(p) as unknown as number, offset })),
          },
        ],
      }),
      commitOffsetsIfNecessary: async (offsets?: {
        topics: Array<{ partitions: Array<{ partition: number; offset: string }> }>;
      }) => {
        for (const t of offsets?.topics ?? [])
          for (const p of t.partitions) this.committed.set(Number(p.partition), p.offset);
      },
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload;
    return this.eachBatch(payload);
  }
}

/** A Temporal client whose signal-with-start waits on gates the test opens per key. */
function fakeTemporal() {
  const gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  const signals: ReplicationTask[][] = [];
  /** Every signal-with-start attempt, accepted or not yet. */
  const attempts: ReplicationTask[][] = [];
  let failure: Error | undefined;
  const refusals = new Map<string, Error>();
  const gate = (key: string) => {
    let open!: () => void;
    const promise = new Promise<void>((r) => (open = r));
    gates.set(key, { promise, open });
  };
  const client = {
    workflow: {
      signalWithStart: async (_type: string, options: { signalArgs: [ReplicationTask[]] }) => {
        const tasks = options.signalArgs[0];
        attempts.push(tasks);
        if (failure) throw failure;
        const refusal = refusals.get(tasks[0]!.entry.key);
        if (refusal) throw refusal;
        await gates.get(tasks[0]!.entry.key)?.promise;
        signals.push(tasks);
      },
    },
  } as unknown as Client;
  return {
    client,
    signals,
    attempts,
    gate,
    open: (key: string) => gates.get(key)?.open(),
    fail: (err: Error | undefined) => (failure = err),
    /** Refuses every signal to `key` (undefined: accepts them again). */
    refuse: (key: string, err: Error | undefined) => (err ? refusals.set(key, err) : refusals.delete(key)),
  };
}

function populatorWith(
  consumer: FakeConsumer,
  temporal: ReturnType<typeof fakeTemporal>,
  options: { config?: typeof config; publish?: () => Promise<void> } = {},
) {
  const producer = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    send: async () => undefined,
  } as unknown as Producer;
  return createPopulator({
    config: options.config ?? config,
    consumer: consumer as unknown as Consumer,
    producer,
    temporal: temporal.client,
    source: { send: async () => ({ Status: 'Enabled', TagSet: [] }) } as unknown as S3Client,
    status: { publish: options.publish ?? (async () => undefined) },
    logger: pino({ level: 'silent' }),
  });
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('partition lanes', () => {
  test('a slow partition is handed to its lane: the fetch goes on and other partitions commit', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    const populator = populatorWith(consumer, temporal);
    await populator.start();
    temporal.gate('slow');

    const started = Date.now();
    await consumer.deliver(0, ['slow', 'a', 'b']);
    expect(Date.now() - started).toBeLessThan(1000); // handoffMs is 50
    expect(consumer.paused.has(0)).toBe(true);

    await consumer.deliver(1, ['c', 'd', 'e']);
    expect(consumer.committed.get(1)).toBe('3');
    expect(consumer.paused.has(1)).toBe(false);
    expect(consumer.committed.has(0)).toBe(false);

    // The group is heartbeated while the slow lane works.
    const before = consumer.heartbeats;
    await settle(350);
    expect(consumer.heartbeats - before).toBeGreaterThanOrEqual(2);

    temporal.open('slow');
    await settle(100);
    expect(consumer.committed.get(0)).toBe('3'); // chunks of 2: resolved and committed chunk by chunk
    expect(consumer.paused.has(0)).toBe(false);
    const order = temporal.signals.map((s) => s[0]!.entry.key);
    expect([...order].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'slow']);
    // Within the partition, the next chunk waited for the slow one; the other partition did not.
    expect(order.indexOf('b')).toBeGreaterThan(order.indexOf('slow'));
    expect(order.indexOf('e')).toBeLessThan(order.indexOf('slow'));
    await populator.stop();
  });

  test('after a rebalance, a lane resolves nothing more; the partition is fetched again from its commit', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    const populator = populatorWith(consumer, temporal);
    await populator.start();
    temporal.gate('stuck');
    await consumer.deliver(0, ['x', 'y', 'stuck', 'z']);
    await settle(50);
    expect(consumer.committed.get(0)).toBe('2'); // the first chunk (x, y) went through

    consumer.emit(consumer.events.GROUP_JOIN);
    expect(consumer.paused.has(0)).toBe(false); // resumed: whatever is assigned is fetched again
    // The old lane's request completes, but its generation is over: it resolves nothing.
    temporal.open('stuck');
    await settle(100);
    expect(consumer.resolved.get(0)).toBe('2');
    expect(consumer.committed.get(0)).toBe('2');
    // The new generation fetches again from the commit, and this time commits it.
    await consumer.deliver(0, ['stuck', 'z'], 2);
    await settle(100);
    expect(consumer.committed.get(0)).toBe('4');
    expect(temporal.signals.map((s) => s[0]!.entry.key).sort()).toEqual([
      'stuck',
      'stuck',
      'x',
      'y',
      'z',
      'z',
    ]);
    await populator.stop();
  });

  test('stop while Temporal is unreachable: lanes give up their chunk, nothing is resolved, the consumer leaves', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    const populator = populatorWith(consumer, temporal);
    await populator.start();
    temporal.fail(Object.assign(new Error('unavailable'), { code: 14 }));
    await consumer.deliver(3, ['k1', 'k2']);
    await settle(300);
    expect(consumer.committed.has(3)).toBe(false);
    const started = Date.now();
    await populator.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(consumer.resolved.has(3)).toBe(false);
    expect(consumer.disconnected).toBe(true);
  });

  test('a key Temporal keeps refusing is handed off: later keys go on, its own later task waits behind it, the commit stays before it', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    const populator = populatorWith(consumer, temporal, { config: lanesConfig({ parkAfterMs: 100 }) });
    await populator.start();
    temporal.gate('slow');
    // Chunks of 2: [slow, a], [b, slow], [c, d].
    await consumer.deliver(0, ['slow', 'a', 'b', 'slow', 'c', 'd']);
    await settle(400);
    expect(temporal.signals.map((s) => s[0]!.entry.key)).toEqual(['a', 'b', 'c', 'd']);
    // The fetch moved on and the partition was resumed, but nothing past the slow key is committed.
    expect(consumer.resolved.get(0)).toBe('6');
    expect(consumer.paused.has(0)).toBe(false);
    expect(consumer.committed.has(0)).toBe(false);
    // The key's second task was not even sent while its first waits.
    expect(temporal.attempts.filter((s) => s[0]!.entry.key === 'slow')).toHaveLength(1);

    temporal.open('slow');
    await settle(100);
    const slow = temporal.signals.filter((s) => s[0]!.entry.key === 'slow');
    expect(slow.map((s) => s[0]!.entry.versionId)).toEqual(['v0', 'v3']); // journal order kept
    expect(consumer.committed.get(0)).toBe('6');
    await populator.stop();
  });

  test('while Temporal is unreachable as a whole, no key is handed off: the lane waits instead of piling up chunks', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    const populator = populatorWith(consumer, temporal, { config: lanesConfig({ parkAfterMs: 100 }) });
    await populator.start();
    temporal.fail(Object.assign(new Error('connect ECONNREFUSED'), { code: 14 }));
    await consumer.deliver(0, ['k1', 'k2', 'k3', 'k4']);
    await settle(500);
    const attempted = new Set(temporal.attempts.map((s) => s[0]!.entry.key));
    expect([...attempted].sort()).toEqual(['k1', 'k2']);
    expect(consumer.resolved.has(0)).toBe(false);
    temporal.fail(undefined);
    await settle(500);
    expect(temporal.signals.map((s) => s[0]!.entry.key).sort()).toEqual(['k1', 'k2', 'k3', 'k4']);
    expect(consumer.committed.get(0)).toBe('4');
    await populator.stop();
  });

  test('after an outage, a refusal is an answer: the refused key is handed off even if no signal was accepted since', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    const populator = populatorWith(consumer, temporal, { config: lanesConfig({ parkAfterMs: 100 }) });
    await populator.start();
    temporal.fail(Object.assign(new Error('connect ECONNREFUSED'), { code: 14 }));
    await consumer.deliver(0, ['busy']);
    await settle(300);
    expect(consumer.resolved.has(0)).toBe(false); // the outage holds the lane
    temporal.fail(undefined);
    temporal.refuse('busy', Object.assign(new Error('workflow is closing'), { code: 8 }));
    await consumer.deliver(0, ['next'], 1);
    await settle(1_500);
    // Temporal answers again (it refuses one run): 'busy' goes to the background, 'next' is signalled.
    expect(temporal.signals.map((s) => s[0]!.entry.key)).toEqual(['next']);
    temporal.refuse('busy', undefined);
    await settle(1_500);
    expect(temporal.signals.map((s) => s[0]!.entry.key)).toEqual(['next', 'busy']);
    expect(consumer.committed.get(0)).toBe('2');
    await populator.stop();
  });

  test('chunks left in the background are bounded: the lane waits when parkedChunksMax are', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    const populator = populatorWith(consumer, temporal, {
      config: lanesConfig({ parkAfterMs: 100, parkedChunksMax: 1 }),
    });
    await populator.start();
    temporal.gate('slow');
    await consumer.deliver(0, ['slow', 'a', 'x', 'y']);
    await settle(400);
    expect(temporal.signals.map((s) => s[0]!.entry.key)).toEqual(['a']);
    expect(consumer.resolved.get(0)).toBe('2');
    temporal.open('slow');
    await settle(100);
    expect(temporal.signals.map((s) => s[0]!.entry.key)).toEqual(['a', 'slow', 'x', 'y']);
    expect(consumer.committed.get(0)).toBe('4');
    await populator.stop();
  });

  test('a chunk that fails is fetched again: the lane seeks back to it and commits nothing past it', async () => {
    const consumer = new FakeConsumer();
    const temporal = fakeTemporal();
    let publishes = 0;
    const populator = populatorWith(consumer, temporal, {
      publish: () => {
        if (++publishes === 1) throw new Error('a bug in the status publisher');
        return Promise.resolve();
      },
    });
    await populator.start();
    await consumer.deliver(0, ['a', 'b', 'c', 'd']);
    await settle(100);
    expect(consumer.seeks).toEqual([{ partition: 0, offset: '0' }]);
    expect(consumer.committed.has(0)).toBe(false);
    expect(consumer.resolved.has(0)).toBe(false);
    // Redelivered from the seek, it goes through on a new lane.
    await consumer.deliver(0, ['a', 'b', 'c', 'd']);
    await settle(100);
    expect(consumer.committed.get(0)).toBe('4');
    await populator.stop();
  });
});

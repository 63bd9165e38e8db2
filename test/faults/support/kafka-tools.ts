import type { Kafka, Message } from 'kafkajs';

/** Committed offsets of a consumer group against the end of a topic, per partition. */
export async function consumerLag(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<{
  total: number;
  partitions: Array<{ partition: number; committed: number; high: number; lag: number }>;
}> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    const partitions = ends.map(({ partition, high, low }) => {
      const c = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
      const from = c >= 0 ? c : Number(low);
      return { partition, committed: c, high: Number(high), lag: Math.max(0, Number(high) - from) };
    });
    return { total: partitions.reduce((n, p) => n + p.lag, 0), partitions };
  } finally {
    await admin.disconnect();
  }
}

/** Reads a whole topic from the beginning (a fresh group) until it has been idle for `idleMs`. */
export async function readTopic<T>(
  kafka: Kafka,
  topic: string,
  map: (message: {
    key: Buffer | null;
    value: Buffer | null;
    headers: Record<string, string>;
    partition: number;
    offset: string;
    /** The record's timestamp (ms since 1970, as a string): its append time on this broker. */
    timestamp: string;
  }) => T | undefined,
  options: { idleMs?: number; timeoutMs?: number; until?: (items: T[]) => boolean } = {},
): Promise<T[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(
    ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]),
  );
  const items: T[] = [];
  const consumer = kafka.consumer({
    groupId: `fault-reader-${Date.now()}-${Math.random().toString(36).slice(2)}`,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let last = Date.now();
  const started = Date.now();
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      last = Date.now();
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [
          k,
          Buffer.isBuffer(v) ? v.toString() : String(v ?? ''),
        ]),
      );
      const item = map({
        key: message.key,
        value: message.value,
        headers,
        partition,
        offset: message.offset,
        timestamp: message.timestamp,
      });
      if (item !== undefined) items.push(item);
      if (Number(message.offset) + 1 >= (remaining.get(partition) ?? 0)) remaining.delete(partition);
    },
  });
  const idleMs = options.idleMs ?? 3_000;
  const timeoutMs = options.timeoutMs ?? 120_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    if (options.until?.(items)) break;
    // Everything that was in the topic when we started has been read, and nothing new came for a while.
    if (remaining.size === 0 && Date.now() - last > idleMs) break;
    if (Date.now() - started > timeoutMs) break;
  }
  await consumer.disconnect();
  return items;
}

/** The journal record MinIO published for one version (bucket/key record key, version id in the value). */
export async function journalRecordOf(
  kafka: Kafka,
  topic: string,
  bucket: string,
  key: string,
  versionId: string,
  eventName?: RegExp,
): Promise<{ key: Buffer; value: Buffer }> {
  const found = await readTopic(
    kafka,
    topic,
    (m) => {
      if (m.key?.toString() !== `${bucket}/${key}`) return undefined;
      const value = m.value?.toString() ?? '';
      if (!value.includes(versionId)) return undefined;
      if (eventName && !eventName.test(value)) return undefined;
      return { key: m.key, value: m.value! };
    },
    { until: (items) => items.length > 0, idleMs: 2_000 },
  );
  if (found.length === 0) throw new Error(`no journal record for ${bucket}/${key} version ${versionId}`);
  return found[0]!;
}

/**
 * Produces messages with explicit partitions; returns the offset each one got (same order as
 * given). One request per call, one batch per partition: keep each partition's share of a call
 * under the broker's 1 MB batch limit.
 */
export async function produceWithOffsets(
  kafka: Kafka,
  topic: string,
  messages: Array<Message & { partition: number }>,
): Promise<Array<{ partition: number; offset: string }>> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const result = await producer.send({ topic, messages, acks: -1 });
    const base = new Map(result.map((r) => [r.partition, BigInt(r.baseOffset ?? '0')]));
    const next = new Map<number, bigint>();
    return messages.map((m) => {
      const i = next.get(m.partition) ?? 0n;
      next.set(m.partition, i + 1n);
      return { partition: m.partition, offset: String(base.get(m.partition)! + i) };
    });
  } finally {
    await producer.disconnect();
  }
}

/** How many partitions a topic has. */
export async function partitionCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

import { createHash } from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Consumer } from 'kafkajs';
import type { ReplicationTask } from '../../shared/replication-task';
import { replicationTasksSignal } from '../../shared/workflow-contract';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { fuzzJournalMessages } from '../support/journal-fuzz';
import { ReplicationHarness } from '../support/replication-harness';
import { kafkaFor, s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import type { DeadLetter } from '../../populator/dead-letter';

/**
 * The journal keeps flowing whatever it carries: a 1 MiB bad message, a version deleted
 * before the populator could read its tags, thousands of fuzzed messages. Real stack: Kafka,
 * Temporal and MinIO, the populator and worker in this process.
 */
const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const SEED = Number(process.env.CRR_FUZZ_SEED ?? Date.now() % 1_000_000);

const harness = new ReplicationHarness(
  stack,
  'resilience',
  [{ site: 'target', bucket: uniqueBucket('resilience-dst') }],
  {},
  (raw) => {
    // Versions under tagged/ replicate only with the tag replicate=yes (rule above setup's).
    raw.replication[harness.sourceBucket]!.Rules.push({
      ID: 'tagged-only',
      Priority: 50,
      Status: 'Enabled',
      Filter: { And: { Prefix: 'tagged/', Tags: [{ Key: 'replicate', Value: 'yes' }] } },
      Destination: { Bucket: `arn:aws:s3:::${harness.destinations[0]!.bucket}`, StorageClass: 'target' },
      DeleteMarkerReplication: { Status: 'Disabled' },
    });
  },
);
const destination = harness.destinations[0]!;

type Letter = DeadLetter & { headers: Record<string, string>; receivedAt: number };

const letters: Letter[] = [];
let deadLetterReader: Consumer;

beforeAll(async () => {
  deadLetterReader = kafkaFor(stack).consumer({ groupId: `dlq-reader-${SEED}-${Date.now()}` });
  await deadLetterReader.connect();
  await deadLetterReader.subscribe({ topic: stack.topics.deadLetter, fromBeginning: true });
  await deadLetterReader.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
      );
      letters.push({ ...JSON.parse(message.value!.toString()), headers, receivedAt: Date.now() });
    },
  });
  await harness.start();
}, 120_000);

afterAll(async () => {
  await deadLetterReader?.disconnect();
  await harness.stop();
}, 60_000);

async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The tasks the key's workflow received through the populator's signal (from its history). */
async function signalledTasks(key: string): Promise<ReplicationTask[]> {
  const handle = harness.temporal.workflow.getHandle(
    replicationWorkflowId(destination.site, harness.sourceBucket, key),
  );
  const history = await handle.fetchHistory();
  const tasks: ReplicationTask[] = [];
  for (const event of history.events ?? []) {
    const signaled = event.workflowExecutionSignaledEventAttributes;
    if (signaled?.signalName !== replicationTasksSignal.name) continue;
    const payload = signaled.input?.payloads?.[0];
    if (payload) tasks.push(...defaultPayloadConverter.fromPayload<ReplicationTask[]>(payload as never));
  }
  return tasks;
}

/** Resolves once the version's task reached its workflow; returns that task. */
function delivered(key: string, versionId: string, timeoutMs: number): Promise<ReplicationTask> {
  return eventually(`${key} ${versionId} signalled to its workflow`, timeoutMs, async () =>
    (await signalledTasks(key)).find((t) => t.entry.versionId === versionId),
  );
}

async function putObjects(prefix: string, count: number) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const key = `${prefix}/${i}`;
      const put = await source.send(
        new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: key }),
      );
      return { key, versionId: put.VersionId!, at: Date.now() };
    }),
  );
}

async function expectReplicated(objects: Array<{ key: string; versionId: string }>, timeoutMs: number) {
  for (const { key, versionId } of objects) {
    const status = await harness.waitForVersion(destination.site, key, versionId, { timeoutMs });
    expect({ key, status: status.status }).toEqual({ key, status: 'COMPLETED' });
    await target.send(new HeadObjectCommand({ Bucket: destination.bucket, Key: key }));
  }
}

async function produce(messages: Array<{ key: string | null; value: Buffer | string | null }>) {
  const producer = kafkaFor(stack).producer();
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send({ topic: stack.topics.journal, messages: messages.slice(i, i + 500) });
    }
  } finally {
    await producer.disconnect();
  }
}

test('a ~1 MiB malformed message is dead-lettered at once, bounded, and later objects replicate within seconds', async () => {
  const value = Buffer.from(`{"Records":[${'x'.repeat(1_000_000 - 12)}`);
  const key = `${harness.sourceBucket}/huge-${SEED}`;
  const producedAt = Date.now();
  await produce([{ key, value }]);
  const after = await putObjects('after-huge', 8);

  const letter = await eventually('the 1 MiB message dead-lettered', 20_000, async () =>
    letters.find((l) => l.key === key),
  );
  expect(letter.receivedAt - producedAt).toBeLessThan(15_000);
  expect(letter).toMatchObject({
    topic: stack.topics.journal,
    valueBytes: value.length,
    valueTruncated: true,
    valueSha256: createHash('sha256').update(value).digest('hex'),
    reason: expect.stringMatching(/not JSON/),
  });
  expect(Buffer.byteLength(letter.value!)).toBeLessThanOrEqual(8192);
  expect(letter.offset).toMatch(/^\d+$/);
  expect(letter.headers['crr-origin']).toBe(`${stack.topics.journal}/${letter.partition}/${letter.offset}`);

  // Every later object reaches its workflow within seconds (MinIO's queue adds about 3 s).
  for (const object of after) {
    await delivered(object.key, object.versionId, 20_000);
  }
  await expectReplicated(after, 30_000);
});

test('a tag-rule version deleted before the populator read its tags stalls nothing', async () => {
  const gone = await source.send(
    new PutObjectCommand({
      Bucket: harness.sourceBucket,
      Key: 'tagged/gone',
      Body: 'soon deleted',
      Tagging: 'replicate=yes',
    }),
  );
  // Deleted at once: by the time the journal entry is read (MinIO's queue, ~3 s), it is gone.
  await source.send(
    new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: 'tagged/gone', VersionId: gone.VersionId }),
  );
  const kept = await source.send(
    new PutObjectCommand({
      Bucket: harness.sourceBucket,
      Key: 'tagged/kept',
      Body: 'tagged',
      Tagging: 'replicate=yes',
    }),
  );
  const others = await putObjects('beside-gone', 6);

  // The vanished version reaches its workflow with the tags its rule requires: the activity
  // reads them itself (and finds the version gone) instead of the populator waiting forever.
  const task = await delivered('tagged/gone', gone.VersionId!, 20_000);
  expect(task.target).toMatchObject({ ruleId: 'tagged-only', requiredTags: { replicate: 'yes' } });
  // A readable version is planned exactly; its task carries its rule's tags all the same.
  const keptTask = await delivered('tagged/kept', kept.VersionId!, 20_000);
  expect(keptTask.target).toMatchObject({ ruleId: 'tagged-only', requiredTags: { replicate: 'yes' } });
  for (const object of others) await delivered(object.key, object.versionId, 20_000);
  await expectReplicated([...others, { key: 'tagged/kept', versionId: kept.VersionId! }], 30_000);
  // The vanished version ends in a final state that says why nothing was copied.
  const outcome = await harness.waitForVersion(destination.site, 'tagged/gone', gone.VersionId!);
  expect(outcome).toMatchObject({
    status: 'COMPLETED',
    detail: 'not replicated: the source version no longer exists',
  });
});

test('thousands of fuzzed messages among valid puts: each bad one dead-lettered with a reason, the rest replicate, lag back to 0', async () => {
  const fuzzed = fuzzJournalMessages(4000, {
    seed: SEED,
    bucket: 'fuzz-no-rules-bucket',
    keyPrefix: `fuzz-${SEED}-`,
    mutatedShare: 0.25,
  });
  const refused = fuzzed.filter((m) => m.expect === 'refused');
  expect(refused.length).toBeGreaterThan(2500);

  // Interleave: a slice of fuzz, some real puts, and so on.
  const valid: Array<{ key: string; versionId: string }> = [];
  const started = Date.now();
  for (let i = 0; i < 4; i++) {
    await produce(fuzzed.slice(i * 1000, (i + 1) * 1000));
    valid.push(...(await putObjects(`amid-fuzz-${i}`, 5)));
  }
  const producedIn = Date.now() - started;

  const wanted = new Set(refused.map((m) => m.key));
  const missing = await eventually('every refused message dead-lettered', 60_000, async () => {
    const seen = new Set(letters.filter((l) => l.topic === stack.topics.journal).map((l) => l.key));
    const left = [...wanted].filter((k) => !seen.has(k));
    return left.length === 0 ? left : undefined;
  }).catch(() => {
    const seen = new Set(letters.map((l) => l.key));
    return refused.filter((m) => !seen.has(m.key)).map((m) => `${m.key} (${m.mutation})`);
  });
  expect({ seed: SEED, missing: missing.slice(0, 10) }).toEqual({ seed: SEED, missing: [] });
  for (const letter of letters.filter((l) => l.key !== null && wanted.has(l.key))) {
    expect(letter.reason.length).toBeGreaterThan(0);
    expect(letter.valueSha256 === null || /^[0-9a-f]{64}$/.test(letter.valueSha256)).toBe(true);
  }
  const byKind = new Map<string, number>();
  for (const l of letters) byKind.set(l.kind, (byKind.get(l.kind) ?? 0) + 1);
  expect(byKind.size).toBeGreaterThan(5); // reasons name many different fields

  await expectReplicated(valid, 60_000);

  // The consumer group's lag returns to 0: everything, good and bad, was committed.
  const admin = kafkaFor(stack).admin();
  await admin.connect();
  try {
    await eventually(
      'consumer lag back to 0',
      Math.max(5000, 60_000 - (Date.now() - started - producedIn)),
      async () => {
        const ends = await admin.fetchTopicOffsets(stack.topics.journal);
        const [committed] = await admin.fetchOffsets({
          groupId: harness.config.kafka.consumerGroup,
          topics: [stack.topics.journal],
        });
        const lag = ends.reduce((sum, { partition, high }) => {
          const offset = committed!.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
          return sum + Math.max(0, Number(high) - Math.max(0, Number(offset)));
        }, 0);
        return lag === 0 ? lag : undefined;
      },
    );
  } finally {
    await admin.disconnect();
  }
});

import { GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Consumer } from 'kafkajs';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { ReplicationHarness } from '../support/replication-harness';
import { kafkaFor, s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { TemporalRefusingProxy } from '../support/temporal-refusing-proxy';

/**
 * One key that Temporal refuses for a while (as it refuses signals to a run closing on a
 * crashed worker: RESOURCE_EXHAUSTED, "workflow is closing", for up to the workflow task
 * timeout) must not hold the other keys of its Kafka partition, must keep its own place in
 * journal order, and must not let the commit pass it: a populator restarted meanwhile picks
 * it up again. Real Kafka, Temporal and MinIO; the populator reaches Temporal through a
 * proxy that refuses that key's signal-with-start until the test lifts it.
 */
const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);

let proxy: TemporalRefusingProxy;
let harness: ReplicationHarness;
let journalTap: Consumer;
/** Where MinIO's journal event for each key of this test landed: partition and offset. */
const journalPlaces = new Map<string, { partition: number; offset: string }>();

beforeAll(async () => {
  proxy = await TemporalRefusingProxy.start(stack.temporal.address);
  harness = new ReplicationHarness(
    stack,
    'refused-key',
    [{ site: 'target', bucket: uniqueBucket('refused-key-dst') }],
    {},
    undefined,
    {},
    proxy.address,
  );
  await harness.start();
  journalTap = kafkaFor(stack).consumer({ groupId: `refused-key-tap-${Date.now()}` });
  await journalTap.connect();
  await journalTap.subscribe({ topic: stack.topics.journal, fromBeginning: true });
  await journalTap.run({
    eachMessage: async ({ partition, message }) => {
      // The shared journal also holds other suites' messages, malformed ones among them.
      const text = message.value?.toString() ?? '';
      if (!text.includes(harness.sourceBucket)) return;
      let event: { Records?: Array<{ s3?: { bucket?: { name?: string }; object?: { key?: string } } }> };
      try {
        event = JSON.parse(text) as typeof event;
      } catch {
        return;
      }
      const record = event.Records?.[0]?.s3;
      if (record?.bucket?.name !== harness.sourceBucket || !record.object?.key) return;
      const key = decodeURIComponent(record.object.key.replace(/\+/g, ' '));
      if (!journalPlaces.has(key)) journalPlaces.set(key, { partition, offset: message.offset });
    },
  });
}, 120_000);

afterAll(async () => {
  await journalTap?.disconnect();
  await harness?.stop();
  await proxy?.close();
}, 60_000);

async function committedOffset(partition: number): Promise<bigint> {
  const admin = kafkaFor(stack).admin();
  await admin.connect();
  try {
    const [topic] = await admin.fetchOffsets({
      groupId: harness.config.kafka.consumerGroup,
      topics: [stack.topics.journal],
    });
    const found = topic?.partitions.find((p) => p.partition === partition);
    return BigInt(found?.offset ?? '-1');
  } finally {
    await admin.disconnect();
  }
}

async function versionsOnTarget(key: string): Promise<number> {
  const listed = await target.send(
    new ListObjectVersionsCommand({ Bucket: harness.destinations[0]!.bucket, Prefix: key }),
  );
  return (listed.Versions ?? []).filter((v) => v.Key === key).length;
}

async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('a refused key holds neither its partition nor its commit, keeps its order, and survives a populator restart', async () => {
  const held = 'held/object';
  const site = harness.destinations[0]!.site;
  const lift = proxy.refuse(replicationWorkflowId(site, harness.sourceBucket, held));

  const first = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: held, Body: 'first' }),
  );
  // Other keys, 16 at a time, until at least two landed after the held key in its partition
  // (MinIO picks the partition by a hash of the key).
  const free: string[] = [];
  const freeVersions = new Map<string, string>();
  await until('the held key seen in the journal', 30_000, () => journalPlaces.has(held));
  const heldPlace = journalPlaces.get(held)!;
  const neighboursAfter = () =>
    free.filter((key) => {
      const place = journalPlaces.get(key);
      return place?.partition === heldPlace.partition && BigInt(place.offset) > BigInt(heldPlace.offset);
    });
  while (neighboursAfter().length < 2 && free.length < 256) {
    const batch = Array.from({ length: 16 }, (_, i) => `free/${free.length + i}`);
    for (const key of batch) {
      const put = await source.send(
        new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: key }),
      );
      freeVersions.set(key, put.VersionId!);
    }
    free.push(...batch);
    await until('every key seen in the journal', 30_000, () => batch.every((key) => journalPlaces.has(key)));
  }
  const after = neighboursAfter();
  // The test means something only when keys after the held one share its partition.
  expect(after.length).toBeGreaterThanOrEqual(2);
  const second = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: held, Body: 'second' }),
  );

  // Every other key replicates while the held one is still refused, its partition neighbours too.
  for (const key of free) {
    const status = await harness.waitForVersion(site, key, freeVersions.get(key)!, { timeoutMs: 30_000 });
    expect({ key, status: status.status }).toEqual({ key, status: 'COMPLETED' });
  }
  expect(proxy.refusedCalls).toBeGreaterThan(0);
  expect(await versionsOnTarget(held)).toBe(0);
  // The group's commit on that partition has not passed the held key's first event.
  expect(await committedOffset(heldPlace.partition)).toBeLessThanOrEqual(BigInt(heldPlace.offset));

  // A populator restarted while the key is refused fetches it again from the commit.
  await harness.stopPopulator();
  await harness.startPopulator();
  const refusedBefore = proxy.refusedCalls;
  await until(
    'the restarted populator asks for the held key again',
    30_000,
    () => proxy.refusedCalls > refusedBefore,
  );

  lift();
  for (const versionId of [first.VersionId!, second.VersionId!]) {
    const status = await harness.waitForVersion(site, held, versionId, { timeoutMs: 60_000 });
    expect(status.status).toBe('COMPLETED');
  }
  // Both versions of the held key, in journal order; every other key exactly once, although
  // the restart delivered its partition neighbours again.
  const listed = await target.send(
    new ListObjectVersionsCommand({ Bucket: harness.destinations[0]!.bucket, Prefix: held }),
  );
  // Listed newest first: the second write must be the latest on the target too.
  const bodies = await Promise.all(
    (listed.Versions ?? []).map(async (v) => {
      const got = await target.send(
        new GetObjectCommand({ Bucket: harness.destinations[0]!.bucket, Key: held, VersionId: v.VersionId }),
      );
      return got.Body!.transformToString();
    }),
  );
  expect(bodies).toEqual(['second', 'first']);
  for (const key of after)
    expect({ key, versions: await versionsOnTarget(key) }).toEqual({ key, versions: 1 });
  await until('the commit moves past the held key', 30_000, async () => {
    return (await committedOffset(heldPlace.partition)) > BigInt(heldPlace.offset);
  });
}, 240_000);

import { PutObjectCommand, type PutObjectCommandOutput } from '@aws-sdk/client-s3';
import { temporal as proto } from '@temporalio/proto';
import { dismissFailedKeys, listFailed, retryFailedKeys, waitForRetries } from '../../operations/failures';
import { CRR_REASON, CRR_STATUS } from '../../shared/search-attributes';
import { replicationStateQuery } from '../../shared/workflow-contract';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { backbeatObjectMetadata, produceTo, quietVersionedObject } from '../support/journal-records';
import { ReplicationHarness } from '../support/replication-harness';
import { headLatest, replicaHistory, waitFor } from '../support/s3-helpers';
import { kafkaFor, s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { formatSiteReplication } from '../../cli/commands/status';
import { lookupReplication } from '../../operations/replication-lookup';

const EventType = proto.api.enums.v1.EventType;
const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);

const MISSING_BUCKET = uniqueBucket('journal-missing');
const harness = new ReplicationHarness(
  stack,
  'journal',
  [{ site: 'target', bucket: uniqueBucket('journal-dst') }],
  { maxAttempts: 3 },
  (raw) => {
    // A destination whose credentials the target site rejects: replications there end FAILED.
    raw.sites['broken-site'] = { endpoint: stack.sites.target.endpoint, profile: 'crr-bad' };
    raw.replication[harness.sourceBucket]!.Rules.push({
      ID: 'to-broken-site',
      Priority: 99,
      Status: 'Enabled',
      Filter: { Prefix: 'broken/' },
      Destination: { Bucket: `arn:aws:s3:::${harness.destinations[0]!.bucket}`, StorageClass: 'broken-site' },
      DeleteMarkerReplication: { Status: 'Disabled' },
    });
    // A destination bucket nobody created: a large PUT there gets its connection reset.
    raw.replication[harness.sourceBucket]!.Rules.push({
      ID: 'to-missing-bucket',
      Priority: 98,
      Status: 'Enabled',
      Filter: { Prefix: 'missing-bucket/' },
      Destination: { Bucket: `arn:aws:s3:::${MISSING_BUCKET}`, StorageClass: 'target' },
      DeleteMarkerReplication: { Status: 'Disabled' },
    });
  },
  { 'crr-bad': { accessKeyId: 'not-a-real-key', secretAccessKey: 'not-a-real-secret' } },
);
const destination = harness.destinations[0]!;

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

const produce = (messages: Array<{ key: string; value: string }>, topic = stack.topics.journal) =>
  produceTo(stack, messages, topic);
const quietSourceObject = (key: string, body: string) => quietVersionedObject(source, key, body);
const objectMetadata = (key: string, put: PutObjectCommandOutput, size: number) =>
  backbeatObjectMetadata(key, put, size, { site: 'target', bucket: destination.bucket });

describe('journal formats, dead letters, loops and failures', () => {
  test('a malformed journal message goes to the dead-letter topic and the pipeline continues', async () => {
    const consumer = kafkaFor(stack).consumer({ groupId: `dlq-reader-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: stack.topics.deadLetter, fromBeginning: true });
    const marker = `not json ${Date.now()}`;
    const letter = new Promise<Record<string, unknown>>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          const parsed = JSON.parse(message.value!.toString()) as Record<string, unknown>;
          if (parsed.value === marker) resolve(parsed);
        },
      });
    });
    await produce([{ key: `${harness.sourceBucket}/garbage`, value: marker }]);
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'after-garbage', Body: 'ok' }),
    );
    const dead = await letter;
    await consumer.disconnect();
    expect(dead.reason).toMatch(/not JSON/);
    expect(dead.topic).toBe(stack.topics.journal);
    expect(typeof dead.partition).toBe('number');
    expect(dead.offset).toMatch(/^\d+$/);
    expect((await harness.waitForVersion(destination.site, 'after-garbage', put.VersionId!)).status).toBe(
      'COMPLETED',
    );
  });

  test('a Backbeat metadata-log entry produced to Kafka replicates the object it names', async () => {
    const key = 'backbeat/cat.jpg';
    const { bucket, put } = await quietSourceObject(key, 'meow');
    const entry = {
      type: 'put',
      bucket,
      key: `${key}\u0000${put.VersionId}`,
      value: JSON.stringify(objectMetadata(key, put, 4)),
    };
    await produce([{ key: `${bucket}/${key}`, value: JSON.stringify(entry) }]);
    const status = await harness.waitForVersion('target', key, put.VersionId!, { bucket });
    expect(status.status).toBe('COMPLETED');
    const replica = await headLatest(target, destination.bucket, key);
    expect(replica.Metadata).toMatchObject({
      'scal-version-id': put.VersionId,
      'scal-replication-status': 'REPLICA',
    });
  });

  test('a MongoDB change-stream document produced to Kafka replicates the object it names', async () => {
    const key = 'change-stream/dog.jpg';
    const { bucket, put } = await quietSourceObject(key, 'woof!');
    const document = {
      _id: { _data: 'resume-token' },
      operationType: 'insert',
      clusterTime: { $timestamp: { t: Math.floor(Date.now() / 1000), i: 7 } },
      ns: { db: 'metadata', coll: bucket },
      documentKey: { _id: `${key}\u0000${put.VersionId}` },
      fullDocument: { _id: `${key}\u0000${put.VersionId}`, value: objectMetadata(key, put, 5) },
    };
    // Kafka Connect's JSON converter with schemas enabled wraps the document as a string payload.
    await produce([
      {
        key: `${bucket}/${key}`,
        value: JSON.stringify({ schema: { type: 'string' }, payload: JSON.stringify(document) }),
      },
    ]);
    const status = await harness.waitForVersion('target', key, put.VersionId!, { bucket });
    expect(status.status).toBe('COMPLETED');
    expect((await headLatest(target, destination.bucket, key)).Metadata?.['scal-version-id']).toBe(
      put.VersionId,
    );
  });

  test('a version that is itself a replica is never replicated again (no loops)', async () => {
    const key = 'loop/object';
    const replica = await source.send(
      new PutObjectCommand({
        Bucket: harness.sourceBucket,
        Key: key,
        Body: 'from the other site',
        Metadata: { 'scal-replication-status': 'REPLICA', 'scal-version-id': 'elsewhere' },
      }),
    );
    const original = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'local write' }),
    );
    await harness.waitForVersion(destination.site, key, original.VersionId!);
    const history = await replicaHistory(target, destination.bucket, key);
    expect(history.map((h) => h.source)).toEqual([original.VersionId]);
    expect(history.map((h) => h.source)).not.toContain(replica.VersionId);
  });

  test('a permanent failure ends FAILED with its reason, is listed, and can be retried', async () => {
    const key = 'broken/object';
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'x' }),
    );
    const failed = await harness.waitForVersion('broken-site', key, put.VersionId!);
    expect(failed.status).toBe('FAILED');
    expect(failed.reason).toMatch(/^\[(INVALID_CREDENTIALS|TARGET_ACCESS_DENIED)\] /);
    expect(failed.reason).toMatch(/(AccessDenied \(HTTP 403\)|InvalidAccessKeyId)/);
    expect(failed.reason).toContain(
      `s3://${harness.sourceBucket}/${key} version ${put.VersionId} to site broken-site (s3://${destination.bucket})`,
    );
    // The same object still replicates to the healthy destination.
    expect((await harness.waitForVersion(destination.site, key, put.VersionId!)).status).toBe('COMPLETED');

    // CrrStatus is written only for keys that failed: the healthy run completes without an
    // upsert (one event fewer per version), the broken one is searchable as FAILED.
    const healthy = harness.temporal.workflow.getHandle(
      replicationWorkflowId(destination.site, harness.sourceBucket, key),
    );
    await healthy.result();
    expect((await healthy.describe()).typedSearchAttributes.get(CRR_STATUS)).toBeUndefined();
    const events = (await healthy.fetchHistory()).events ?? [];
    const types = events.map((e) => e.eventType);
    expect(types).not.toContain(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
    expect(types.filter((t) => t === EventType.EVENT_TYPE_MARKER_RECORDED)).toHaveLength(1);
    expect(events.length).toBeLessThanOrEqual(12);
    const broken = harness.temporal.workflow.getHandle(
      replicationWorkflowId('broken-site', harness.sourceBucket, key),
    );
    const brokenAttributes = (await broken.describe()).typedSearchAttributes;
    expect(brokenAttributes.get(CRR_STATUS)).toBe('FAILED');
    // The stable code is searchable: `temporal workflow list --query 'CrrReason="INVALID_CREDENTIALS"'`.
    expect(brokenAttributes.get(CRR_REASON)).toBe(failed.reason!.slice(1, failed.reason!.indexOf(']')));
    // The workflow code runs without stack capture (workflows/without-stack-traces.ts): the
    // SDK's stack-trace query of the waiting run has no frames, and the run's own query says
    // where it stands.
    const stackTrace = await broken.query<string>('__stack_trace');
    expect(typeof stackTrace).toBe('string');
    expect(stackTrace).not.toMatch(/\bat\s/);
    const state = await broken.query(replicationStateQuery);
    expect(JSON.stringify(state)).toContain(put.VersionId!);

    const listed = await waitFor(
      'the key in the failed list',
      async () => {
        const found = await listFailed(harness.temporal, {
          site: 'broken-site',
          bucket: harness.sourceBucket,
        });
        return found.length > 0 ? found : undefined;
      },
      10_000,
    );
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ key, site: 'broken-site' });
    expect(listed[0]!.failed[0]!.versionId).toBe(put.VersionId);

    const firstFailure = failed.finishedAt;
    const retriedAt = new Date();
    const keys = await retryFailedKeys(harness.temporal, {
      site: 'broken-site',
      bucket: harness.sourceBucket,
    });
    expect(keys).toEqual([replicationWorkflowId('broken-site', harness.sourceBucket, key)]);
    // `replication retry --wait`: the outcome of the retry, from the server alone.
    const [outcome] = await waitForRetries(harness.temporal, keys, retriedAt, 60_000);
    expect(outcome).toMatchObject({ outcome: 'FAILED' });
    expect(outcome!.failed[0]!.reason).toMatch(/^\[(INVALID_CREDENTIALS|TARGET_ACCESS_DENIED)\] /);
    const retried = await harness.waitForVersion('broken-site', key, put.VersionId!, {
      until: (v) => v.status === 'FAILED' && v.finishedAt !== firstFailure,
    });
    expect(retried.reason).toMatch(/(AccessDenied \(HTTP 403\)|InvalidAccessKeyId)/);
    // The failure's history is kept across the retry.
    expect(retried).toMatchObject({ failures: 2, firstFailedAt: firstFailure });
    expect(
      formatSiteReplication(
        {
          ...(await lookupReplication(
            harness.temporal,
            'broken-site',
            harness.sourceBucket,
            key,
            put.VersionId,
          )),
        },
        `s3://${harness.sourceBucket}/${key}`,
      ).join('\n'),
    ).toMatch(new RegExp(`failed 2 times since ${firstFailure}`));

    // `replication dismiss`: the failure ends, recorded as dismissed; the key's run completes.
    expect(
      await dismissFailedKeys(
        harness.temporal,
        { site: 'broken-site', bucket: harness.sourceBucket },
        'site retired',
      ),
    ).toEqual(keys);
    const dismissed = await harness.waitForVersion('broken-site', key, put.VersionId!, {
      until: (v) => v.status === 'COMPLETED',
    });
    expect(dismissed.detail).toMatch(
      /^not replicated: dismissed by an operator \(site retired\); last failure: \[/,
    );
    await broken.result();
    expect((await broken.describe()).typedSearchAttributes.get(CRR_STATUS)).toBe('COMPLETED');
    // Visibility (what `failed` lists) follows the run's close a moment later.
    await waitFor(
      'the dismissed key to leave the failed list',
      async () =>
        (await listFailed(harness.temporal, { site: 'broken-site', bucket: harness.sourceBucket })).length ===
        0
          ? true
          : undefined,
      10_000,
    );
  });

  test('a 40 MiB object for a missing destination bucket fails at once as TARGET_BUCKET_MISSING, not as a connection reset', async () => {
    const key = 'missing-bucket/big.bin';
    const put = await source.send(
      new PutObjectCommand({
        Bucket: harness.sourceBucket,
        Key: key,
        Body: Buffer.alloc(40 * 1024 * 1024, 7),
      }),
    );
    const started = Date.now();
    const failed = await harness.waitForVersion('target', key, put.VersionId!, { timeoutMs: 90_000 });
    expect(failed.status).toBe('FAILED');
    // Found missing while placing the change (its listing), or by the PUT's reset connection.
    expect(failed.reason).toMatch(
      /^\[TARGET_BUCKET_MISSING\] (reading the source and target versions|copying data) failed/,
    );
    expect(failed.reason).toContain(`s3://${MISSING_BUCKET}`);
    expect(failed.attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);

  // Last in this file: it stops the populator.
  test('a stopped populator has committed every journal message it had accepted', async () => {
    // Many keys at once, so that several partitions have just been consumed.
    const keys = Array.from({ length: 24 }, (_, i) => `before-stop/${i}`);
    const puts = await Promise.all(
      keys.map((Key) => source.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key, Body: Key }))),
    );
    for (const [i, key] of keys.entries()) {
      expect((await harness.waitForVersion(destination.site, key, puts[i]!.VersionId!)).status).toBe(
        'COMPLETED',
      );
    }
    const admin = kafkaFor(stack).admin();
    await admin.connect();
    try {
      const topic = harness.config.kafka.journalTopic;
      // Every message up to here was accepted: earlier tests waited for theirs, and these keys
      // completed. Stop at once, as a SIGTERM would.
      const journalEnd = await admin.fetchTopicOffsets(topic);
      await harness.stopPopulator();
      const [committed] = await admin.fetchOffsets({
        groupId: harness.config.kafka.consumerGroup,
        topics: [topic],
      });
      // Accepted offsets are committed with each batch, so a clean restart redelivers nothing.
      for (const { partition, high } of journalEnd) {
        const offset = committed!.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
        expect({ partition, committed: Math.max(0, Number(offset)) >= Number(high) }).toEqual({
          partition,
          committed: true,
        });
      }
    } finally {
      await admin.disconnect();
    }
  });
});

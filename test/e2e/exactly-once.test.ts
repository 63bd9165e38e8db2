import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { USER_METADATA_LIMIT, userMetadataSize } from '../../activities/replica-metadata';
import { MARKER_TAG } from '../../shared/replica-marker';
import type { ReplicationTask, VersionStatus } from '../../shared/replication-task';
import { REPLICATE_KEY_WORKFLOW, replicationTasksSignal, taskQueueFor } from '../../shared/workflow-contract';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { lookupReplication } from '../../operations/replication-lookup';
import { ReplicationHarness } from '../support/replication-harness';
import { md5Of, orderedHistory, sourceHistory, waitFor } from '../support/s3-helpers';
import { journalRecordOf, redeliver } from '../support/journal-records';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const harness = new ReplicationHarness(stack, 'exactly', [
  { site: 'target', bucket: uniqueBucket('exactly-dst'), deleteMarkers: true },
]);
const destination = harness.destinations[0]!;

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

/** The target history expected for a source history: each version by its replica, delete markers in place. */
const expectedOf = (history: string[]) => history;

async function waitForAll(key: string, versionIds: string[], timeoutMs = 60_000): Promise<VersionStatus[]> {
  return Promise.all(versionIds.map((v) => harness.waitForVersion(destination.site, key, v, { timeoutMs })));
}

/** Sends tasks straight to the key's workflow as retries: the activities run again for versions already applied. */
async function replay(key: string, versions: VersionStatus[]): Promise<void> {
  const tasks: ReplicationTask[] = versions.map((v) => ({
    entry: {
      bucket: harness.sourceBucket,
      key,
      versionId: v.versionId,
      operation: v.operation,
      size: 1,
      eventTime: new Date().toISOString(),
      sequence: v.sequence,
    },
    target: {
      site: destination.site,
      bucket: destination.bucket,
      ruleId: 'replay',
      replicateDeleteMarkers: true,
    },
    retry: true,
  }));
  await harness.temporal.workflow.signalWithStart(REPLICATE_KEY_WORKFLOW, {
    workflowId: replicationWorkflowId(destination.site, harness.sourceBucket, key),
    taskQueue: taskQueueFor(harness.config.temporal.taskQueuePrefix, destination.site),
    args: [
      {
        site: destination.site,
        bucket: harness.sourceBucket,
        key,
        settings: {
          maxAttempts: 5,
          initialRetryIntervalMs: 200,
          maxRetryIntervalMs: 2000,
          multipartThresholdBytes: 256 * 1024 * 1024,
          localActivityMaxBytes: 8 * 1024 * 1024,
          continueAsNewAfterVersions: 200,
        },
      },
    ],
    signal: replicationTasksSignal,
    signalArgs: [tasks],
  });
}

/** Statuses of every version the key's runs handled, newest run first. */
async function statusesOf(key: string): Promise<VersionStatus[]> {
  return (await lookupReplication(harness.temporal, destination.site, harness.sourceBucket, key)).versions;
}

describe('every change reaches the target exactly once', () => {
  test('put, delete, put back to back on 10 keys: the target holds exactly the source history', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `storm/${i} é+%`);
    const written = await Promise.all(
      keys.map(async (key) => {
        const v1 = await source.send(
          new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: `one ${key}` }),
        );
        const dm = await source.send(new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: key }));
        const v2 = await source.send(
          new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: `two ${key}` }),
        );
        return { key, ids: [v1.VersionId!, dm.VersionId!, v2.VersionId!] };
      }),
    );
    for (const { key, ids } of written) {
      const statuses = await waitForAll(key, ids);
      expect(statuses.map((s) => s.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
      const sourceSide = await sourceHistory(source, harness.sourceBucket, key);
      expect(sourceSide).toEqual([`v:${ids[0]}`, 'DM', `v:${ids[2]}`]);
      expect(await orderedHistory(target, destination.bucket, key)).toEqual(expectedOf(sourceSide));
    }
  }, 180_000);

  test('every put and delete marker applied again (a re-executed activity) changes nothing', async () => {
    const key = 'replayed/object';
    const v1 = await source.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'a' }));
    const dm = await source.send(new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: key }));
    const v2 = await source.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'b' }));
    const dm2 = await source.send(new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: key }));
    const ids = [v1.VersionId!, dm.VersionId!, v2.VersionId!, dm2.VersionId!];
    const done = await waitForAll(key, ids);
    const before = await orderedHistory(target, destination.bucket, key);
    expect(before).toEqual([`v:${ids[0]}`, 'DM', `v:${ids[2]}`, 'DM']);

    // Oldest first, then newest first: each one is recognised wherever it sits.
    await replay(key, done);
    await replay(key, [...done].reverse());
    await waitFor('the replayed changes to complete', async () => {
      const all = await statusesOf(key);
      const again = all.filter((s) => s.detail?.startsWith('already replicated'));
      return again.length >= 8 && all.every((s) => s.status === 'COMPLETED') ? all : undefined;
    });
    expect(await orderedHistory(target, destination.bucket, key)).toEqual(before);
  }, 120_000);

  test('a duplicate journal delivery of a put after its delete marker was replicated changes nothing', async () => {
    const key = 'redelivered/after-delete';
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'gone soon' }),
    );
    const dm = await source.send(new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: key }));
    await waitForAll(key, [put.VersionId!, dm.VersionId!]);
    const before = await orderedHistory(target, destination.bucket, key);
    expect(before).toEqual([`v:${put.VersionId}`, 'DM']);

    await redeliver(stack, await journalRecordOf(stack, harness.sourceBucket, key, put.VersionId!));
    await waitFor('the redelivered put to be recognised', async () => {
      const all = await statusesOf(key);
      return all.some((s) => s.versionId === put.VersionId && s.detail === 'already replicated')
        ? all
        : undefined;
    });
    // The object stays deleted on the target, as on the source.
    expect(await orderedHistory(target, destination.bucket, key)).toEqual(before);
  }, 120_000);

  test('an object at the 2 KiB user-metadata limit replicates, its marker in a tag', async () => {
    const key = 'metadata/at-the-limit';
    const name = 'big';
    const Metadata = { [name]: 'm'.repeat(USER_METADATA_LIMIT - `x-amz-meta-${name}`.length) };
    expect(userMetadataSize(Metadata)).toBe(USER_METADATA_LIMIT);
    const put = await source.send(
      new PutObjectCommand({
        Bucket: harness.sourceBucket,
        Key: key,
        Body: 'full',
        Metadata,
        Tagging: 'a=1',
      }),
    );
    const status = await harness.waitForVersion(destination.site, key, put.VersionId!);
    expect(status).toMatchObject({ status: 'COMPLETED' });
    const head = await target.send(new HeadObjectCommand({ Bucket: destination.bucket, Key: key }));
    expect(head.Metadata).toEqual(Metadata);
    const tags = await target.send(new GetObjectTaggingCommand({ Bucket: destination.bucket, Key: key }));
    expect(tags.TagSet?.find((t) => t.Key === 'a')?.Value).toBe('1');
    expect(tags.TagSet?.find((t) => t.Key === MARKER_TAG)?.Value).toMatch(new RegExp(`:${put.VersionId}$`));

    // Recognised by its tag marker when applied again.
    await replay(key, [status]);
    await waitFor('the replay to be recognised', async () => {
      const all = await statusesOf(key);
      return all.some((s) => s.detail === 'already replicated') ? all : undefined;
    });
    expect(await orderedHistory(target, destination.bucket, key)).toEqual([`v:${put.VersionId}`]);
  }, 120_000);

  test('an object with room for the status but not the whole marker keeps scal-replication-status', async () => {
    const key = 'metadata/nearly-full';
    const Metadata = { big: 'n'.repeat(USER_METADATA_LIMIT - 'x-amz-meta-big'.length - 60) };
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'x', Metadata }),
    );
    expect((await harness.waitForVersion(destination.site, key, put.VersionId!)).status).toBe('COMPLETED');
    const head = await target.send(new HeadObjectCommand({ Bucket: destination.bucket, Key: key }));
    expect(head.Metadata).toEqual({ ...Metadata, 'scal-replication-status': 'REPLICA' });
  });

  // Last: it suspends versioning on the source bucket.
  test('overwrites in a bucket whose versioning is suspended: the target ends with the latest bytes', async () => {
    const key = 'suspended/object';
    await source.send(
      new PutBucketVersioningCommand({
        Bucket: harness.sourceBucket,
        VersioningConfiguration: { Status: 'Suspended' },
      }),
    );
    for (let i = 0; i < 5; i++) {
      await source.send(
        new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: `null write ${i}` }),
      );
    }
    const md5 = createHash('md5').update('null write 4').digest('hex');
    expect(await md5Of(source, harness.sourceBucket, key)).toBe(md5);
    await waitFor(
      'the target latest to hold the last write',
      async () => ((await md5Of(target, destination.bucket, key)) === md5 ? true : undefined),
      60_000,
    );
    const settled = await waitFor('every null write to reach a final status', async () => {
      const all = await statusesOf(key);
      return all.length >= 5 && all.every((s) => s.status === 'COMPLETED') ? all : undefined;
    });
    // Writes overwritten on the source before they were copied are skipped, never copied twice.
    const copied = settled.filter((s) => !s.detail);
    const history = await orderedHistory(target, destination.bucket, key);
    expect(history).toHaveLength(copied.length);
    expect(new Set(history)).toEqual(new Set(['v:null']));
  }, 120_000);
});

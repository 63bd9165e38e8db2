/**
 * How placement reads the target's history of a key (activities/target-state.ts), on the real
 * MinIO sites: a key new on the source and unknown to the worker costs the target one HEAD of
 * its own metadata, not a versions listing (which on MinIO walks the key's whole folder); a
 * key with older versions, or one the worker has seen on the target, is listed at once.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MarkerCache } from '../../activities';
import type { ReplicationContext } from '../../activities/replication-context';
import { placeChange, targetHistory } from '../../activities/target-state';
import type { ReplicationTask } from '../../shared/replication-task';
import { testReplicationContext } from '../support/replication-context';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const sourceBucket = uniqueBucket('history-src');
const targetBucket = uniqueBucket('history-dst');

/** The target requests sent (operation, and whether it named a version), in order. */
const sent: string[] = [];
target.middlewareStack.add(
  (next, context) => async (args) => {
    const input = args.input as { VersionId?: string };
    sent.push(`${context.commandName ?? '?'}${input.VersionId ? '(version)' : ''}`);
    return next(args);
  },
  { step: 'initialize', name: 'crrTestRequestLog' },
);

const contextWith = (markers: MarkerCache): ReplicationContext =>
  testReplicationContext(source, target, { markers });

const task = (key: string, versionId: string): ReplicationTask => ({
  entry: {
    bucket: sourceBucket,
    key,
    versionId,
    operation: 'put',
    size: 1,
    eventTime: new Date().toISOString(),
    sequence: '1',
  },
  target: { site: 'target', bucket: targetBucket, ruleId: 'history', replicateDeleteMarkers: true },
});

const put = async (s3: S3Client, Bucket: string, Key: string) =>
  (await s3.send(new PutObjectCommand({ Bucket, Key, Body: Key }))).VersionId!;

/** The target requests placing the change sent. */
async function targetRequestsOfPlacing(ctx: ReplicationContext, t: ReplicationTask): Promise<string[]> {
  sent.length = 0;
  await placeChange(ctx, t, []);
  return [...sent];
}

beforeAll(async () => {
  for (const [s3, Bucket] of [
    [source, sourceBucket],
    [target, targetBucket],
  ] as const) {
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  }
});

test('a key new on the source and to the target costs the target one HEAD, not a listing', async () => {
  const key = 'new/k é+%';
  const v1 = await put(source, sourceBucket, key);
  // A key that shares its prefix is not its history.
  await put(target, targetBucket, `${key}1`);
  expect(await targetRequestsOfPlacing(contextWith(new MarkerCache()), task(key, v1))).toEqual([
    'HeadObjectCommand',
  ]);
});

test('a key new on the source that the target has (a redelivery elsewhere) is listed after the HEAD', async () => {
  const key = 'again/k';
  const v1 = await put(source, sourceBucket, key);
  await put(target, targetBucket, key);
  await target.send(new DeleteObjectCommand({ Bucket: targetBucket, Key: key }));
  // The target's latest is a delete marker: its 404 says so, and the key is listed.
  expect(await targetRequestsOfPlacing(contextWith(new MarkerCache()), task(key, v1))).toEqual([
    'HeadObjectCommand',
    'ListObjectVersionsCommand',
    'HeadObjectCommand(version)',
    'GetObjectTaggingCommand(version)',
  ]);
});

test('a key with older versions on the source, or seen on the target by this worker, is listed at once', async () => {
  const key = 'old/k';
  await put(source, sourceBucket, key);
  const v2 = await put(source, sourceBucket, key);
  const ctx = contextWith(new MarkerCache());
  expect(await targetRequestsOfPlacing(ctx, task(key, v2))).toEqual(['ListObjectVersionsCommand']);

  const seen = 'seen/k';
  const s1 = await put(source, sourceBucket, seen);
  await put(target, targetBucket, seen);
  expect((await targetRequestsOfPlacing(ctx, task(seen, s1)))[0]).toBe('HeadObjectCommand');
  expect(await targetRequestsOfPlacing(ctx, task(seen, s1))).toEqual(['ListObjectVersionsCommand']);
});

test('without the hint the target history is listed, even for a key it does not have', async () => {
  sent.length = 0;
  const entries = [];
  for await (const entry of targetHistory(contextWith(new MarkerCache()), task('absent/k', 'v')))
    entries.push(entry);
  expect({ entries, sent }).toEqual({ entries: [], sent: ['ListObjectVersionsCommand'] });
});

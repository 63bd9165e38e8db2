/**
 * The worker's heap policy (workers/heap-growth.ts) is told of every copy that streams a
 * version's bytes, with its size, and of its end however it ends: counted out after a copy
 * that lands, after an attempt cancelled mid-PUT, never counted for a version that is gone.
 * On the real MinIO sites, with the real policy (its V8 flags recorded instead of set).
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createReplicationActivities } from '../../activities';
import { createS3Client } from '../../clients/s3';
import type { ReplicationOutcome, ReplicationTask } from '../../shared/replication-task';
import { HeapGrowthPolicy } from '../../workers/heap-growth';
import { RequestHoldingProxy } from '../support/request-holding-proxy';
import { createVersionedBucket, orderedHistory } from '../support/s3-helpers';
import { testReplicationContext } from '../support/replication-context';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const sourceBucket = uniqueBucket('copyload-src');
const targetBucket = uniqueBucket('copyload-dst');
const proxy = new RequestHoldingProxy(new URL(stack.sites.target.endpoint));
const clients: S3Client[] = [];
const BODY = Buffer.alloc(64 * 1024, 'c');

/** The real policy, switching at 32 KiB in progress; what it would set in V8, and what it was told. */
function observedActivities() {
  const flags: string[] = [];
  const policy = new HeapGrowthPolicy({
    tightPercent: 50,
    streamingBytes: 32 * 1024,
    settleMs: 0,
    setPercent: (percent) => flags.push(`--heap-growing-percent=${percent}`),
  });
  const started: number[] = [];
  let inProgress = 0;
  const copyLoad = {
    copyStarted(bytes: number) {
      started.push(bytes);
      inProgress += bytes;
      const end = policy.copyStarted(bytes);
      let ended = false;
      return () => {
        if (!ended) inProgress -= bytes;
        ended = true;
        end();
      };
    },
  };
  const targetClient = createS3Client({
    endpoint: proxy.endpoint,
    region: stack.sites.target.region,
    forcePathStyle: true,
    credentials: {
      accessKeyId: stack.sites.target.accessKeyId,
      secretAccessKey: stack.sites.target.secretAccessKey,
    },
  });
  clients.push(targetClient);
  const activities = createReplicationActivities(testReplicationContext(source, targetClient, { copyLoad }));
  return { activities, policy, flags, started, inProgress: () => inProgress };
}

let sequence = 0;
async function putSource(key: string): Promise<ReplicationTask> {
  const put = await source.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: BODY }));
  return {
    entry: {
      bucket: sourceBucket,
      key,
      versionId: put.VersionId!,
      operation: 'put',
      size: BODY.length,
      eventTime: new Date().toISOString(),
      sequence: String(++sequence).padStart(20, '0'),
    },
    target: { site: 'target', bucket: targetBucket, ruleId: 'copy-load', replicateDeleteMarkers: true },
  };
}

/** One local attempt of `copyObjectVersion`. */
function runCopy(
  env: MockActivityEnvironment,
  observed: ReturnType<typeof observedActivities>,
  task: ReplicationTask,
): Promise<ReplicationOutcome> {
  return env.run(() => observed.activities.copyObjectVersion(task));
}

const settle = () => new Promise((r) => setTimeout(r, 20));

beforeAll(async () => {
  await createVersionedBucket(source, sourceBucket);
  await createVersionedBucket(target, targetBucket);
  await proxy.open();
}, 60_000);

afterAll(async () => {
  await proxy.close();
  for (const client of clients) client.destroy();
});

test("a copy that lands is counted with the version's size while it streams, then counted out", async () => {
  const observed = observedActivities();
  const task = await putSource('lands');
  const hold = proxy.holdNext((method, url) => method === 'PUT' && url.pathname.endsWith('/lands'));
  const copy = runCopy(new MockActivityEnvironment({ isLocal: true }), observed, task);
  await hold.held;
  expect(observed.inProgress()).toBe(BODY.length);
  expect(observed.policy.mode).toBe('v8'); // 64 KiB in progress, over the 32 KiB of this policy
  hold.release();
  const outcome = await copy;
  expect(outcome.targetVersionId).toBeDefined();
  expect(observed.started).toEqual([BODY.length]);
  expect(observed.inProgress()).toBe(0);
  await settle();
  expect(observed.policy.mode).toBe('tight');
  expect(observed.flags).toEqual([
    '--heap-growing-percent=50',
    '--heap-growing-percent=0',
    '--heap-growing-percent=50',
  ]);
  expect(await orderedHistory(target, targetBucket, 'lands')).toEqual([`v:${task.entry.versionId}`]);
}, 60_000);

test('an attempt cancelled while its PUT is in flight is counted out', async () => {
  const observed = observedActivities();
  const task = await putSource('cancelled');
  const hold = proxy.holdNext((method, url) => method === 'PUT' && url.pathname.endsWith('/cancelled'));
  const env = new MockActivityEnvironment({ isLocal: true });
  const settled = runCopy(env, observed, task).then(
    () => 'completed',
    () => 'failed',
  );
  await hold.held;
  expect(observed.inProgress()).toBe(BODY.length);
  env.cancel('TIMED_OUT');
  await hold.clientGone;
  expect(await settled).toBe('failed');
  expect(observed.inProgress()).toBe(0);
  await settle();
  expect(observed.policy.mode).toBe('tight');
  hold.release();
}, 60_000);

test('a version gone from the source streams nothing and is never counted', async () => {
  const observed = observedActivities();
  const task = await putSource('gone');
  await source.send(
    new DeleteObjectCommand({ Bucket: sourceBucket, Key: 'gone', VersionId: task.entry.versionId }),
  );
  const outcome = await runCopy(new MockActivityEnvironment({ isLocal: true }), observed, task);
  expect(outcome.detail).toMatch(/^not replicated/);
  expect(observed.started).toEqual([]);
  expect(observed.flags).toEqual(['--heap-growing-percent=50']);
}, 60_000);

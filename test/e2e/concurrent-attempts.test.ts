/**
 * Two attempts of one change at once, on the real MinIO sites. Temporal does not stop an
 * attempt it gave up on (a local activity past its timeout, a run evicted after a failed
 * workflow task, a frozen site): it goes on beside the next attempt, and a write it already
 * sent can reach the target long afterwards. Each case here makes that race happen
 * deterministically, with a proxy that holds one attempt's PUT until the other has written,
 * and checks that the target ends with one replica of the version, not two.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import {
  createReplicationActivities,
  MarkerCache,
  SourcePartsFallbacks,
  type ReplicationActivities,
} from '../../activities';
import { createS3Client } from '../../clients/s3';
import type { ReplicationOutcome, ReplicationTask } from '../../shared/replication-task';
import { FRESH_VIEW_MS } from '../../activities/delete-marker-check';
import { documentedPolicy, PolicyInstaller } from '../support/least-privilege';
import { RequestHoldingProxy } from '../support/request-holding-proxy';
import { testSecret } from '../support/secure-stack';
import { orderedHistory } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const sourceBucket = uniqueBucket('attempts-src');
const targetBucket = uniqueBucket('attempts-dst');
const proxy = new RequestHoldingProxy(new URL(stack.sites.target.endpoint));
const clients: S3Client[] = [];
const policies = new PolicyInstaller(stack);
/** A target user with docs/SECURITY.md's destination policy, which denies version deletes. */
const leastPrivilegeTarget = {
  accessKeyId: `crr-attempts-${Date.now().toString(36)}`,
  secretAccessKey: testSecret('attempts'),
};

/** One worker's activities; `viaProxy`: its target requests go through the holding proxy. */
function workerActivities(
  viaProxy: boolean,
  conditionalWrites = true,
  targetCredentials?: { accessKeyId: string; secretAccessKey: string },
): ReplicationActivities {
  const site = (
    s: typeof stack.sites.source,
    endpoint = s.endpoint,
    credentials: { accessKeyId: string; secretAccessKey: string } = s,
  ) => {
    const client = createS3Client({
      endpoint,
      region: s.region,
      forcePathStyle: true,
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    });
    clients.push(client);
    return client;
  };
  const targetClient = site(stack.sites.target, viaProxy ? proxy.endpoint : undefined, targetCredentials);
  return createReplicationActivities({
    sourceSite: 'source',
    source: site(stack.sites.source),
    targetClient: () => targetClient,
    conditionalWrites: () => conditionalWrites,
    settings: {
      multipartThresholdBytes: 256 * 1024 * 1024,
      localActivityMaxBytes: 8 * 1024 * 1024,
      partSizeBytes: 16 * 1024 * 1024,
      partConcurrency: 2,
    },
    status: { publish: async () => undefined },
    logger: pino({ level: 'silent' }),
    markers: new MarkerCache(),
    sourcePartsFallbacks: new SourcePartsFallbacks(),
  });
}

function putTask(key: string, versionId: string, sequence: string): ReplicationTask {
  return {
    entry: {
      bucket: sourceBucket,
      key,
      versionId,
      operation: 'put',
      size: 5,
      eventTime: new Date().toISOString(),
      sequence,
    },
    target: { site: 'target', bucket: targetBucket, ruleId: 'attempts', replicateDeleteMarkers: true },
  };
}

const isPutOf = (key: string) => (method: string, url: URL) =>
  method === 'PUT' &&
  decodeURIComponent(url.pathname) === `/${targetBucket}/${key}` &&
  !url.search.includes('tagging');

const attempt = (info: { attempt: number; isLocal?: boolean } = { attempt: 1 }) =>
  new MockActivityEnvironment({ isLocal: true, ...info });

/** One attempt of `copyObjectVersion` in its own activity context. */
function runCopy(
  env: MockActivityEnvironment,
  worker: ReplicationActivities,
  task: ReplicationTask,
): Promise<ReplicationOutcome> {
  return env.run(() => worker.copyObjectVersion(task));
}

let sequence = 0;
async function putSource(key: string, body: string): Promise<ReplicationTask> {
  const put = await source.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: body }));
  return putTask(key, put.VersionId!, String(++sequence).padStart(20, '0'));
}

beforeAll(async () => {
  for (const [s3, bucket] of [
    [source, sourceBucket],
    [target, targetBucket],
  ] as const) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  }
  await proxy.open();
  await policies.installUser(
    'target',
    `crr-attempts-${targetBucket}`,
    documentedPolicy('CrrWriteReplicas', { 'TARGET-BUCKET': targetBucket }),
    leastPrivilegeTarget,
  );
}, 120_000);

afterAll(async () => {
  policies.cleanup();
  await proxy.close();
  for (const client of clients) client.destroy();
});

describe('an attempt given up on still writing beside the next one', () => {
  // What the target holds before the race: nothing, a replica of an earlier version, or a delete marker above it.
  const before = ['no version', 'an earlier replica', 'a delete marker'] as const;
  for (const [i, state] of before.entries()) {
    test(`two workers, the first one's PUT delivered after the second wrote (target latest: ${state}): one replica`, async () => {
      const key = `race-${i}/κλειδί %+ ${state}`;
      const late = workerActivities(true);
      const prompt = workerActivities(false);
      const history: string[] = [];
      if (state !== 'no version') {
        const earlier = await putSource(key, 'older');
        await runCopy(attempt(), prompt, earlier);
        history.push(`v:${earlier.entry.versionId}`);
        if (state === 'a delete marker') {
          await source.send(new DeleteObjectCommand({ Bucket: sourceBucket, Key: key }));
          await target.send(new DeleteObjectCommand({ Bucket: targetBucket, Key: key }));
          history.push('DM');
        }
      }
      const task = await putSource(key, `bytes of ${state}`);
      const hold = proxy.holdNext(isPutOf(key));
      const first = runCopy(attempt(), late, task);
      await hold.held;
      const second = await runCopy(attempt({ attempt: 2 }), prompt, task);
      expect(second.targetVersionId).toBeDefined();
      hold.release();
      const firstOutcome: ReplicationOutcome = await first;
      // The held PUT was refused (412): the first attempt planned again and found the replica.
      expect(firstOutcome.detail).toBe('already replicated');
      expect(firstOutcome.targetVersionId).toBe(second.targetVersionId);
      expect(await orderedHistory(target, targetBucket, key)).toEqual([
        ...history,
        `v:${task.entry.versionId}`,
      ]);
    }, 60_000);
  }

  test('in one worker: the next attempt waits for the earlier one still writing, then finds its replica', async () => {
    const key = 'same-worker/wait';
    const worker = workerActivities(true);
    const task = await putSource(key, 'one worker');
    const hold = proxy.holdNext(isPutOf(key));
    const first = runCopy(attempt(), worker, task);
    await hold.held;
    let secondDone = false;
    const second = runCopy(attempt({ attempt: 2 }), worker, task).finally(() => (secondDone = true));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(secondDone).toBe(false); // held behind the first attempt, not racing it
    hold.release();
    const [a, b] = await Promise.all([first, second]);
    expect(a.targetVersionId).toBeDefined();
    expect(b.detail).toBe('already replicated');
    expect(b.targetVersionId).toBe(a.targetVersionId);
    expect(await orderedHistory(target, targetBucket, key)).toEqual([`v:${task.entry.versionId}`]);
  }, 60_000);

  test('a cancelled attempt aborts its request at once; its PUT delivered later is refused', async () => {
    const key = 'same-worker/cancelled';
    const worker = workerActivities(true);
    const task = await putSource(key, 'cancelled');
    const hold = proxy.holdNext(isPutOf(key));
    const env = attempt();
    const first = runCopy(env, worker, task);
    const settled = first.then(
      () => 'completed',
      () => 'failed',
    );
    await hold.held;
    const cancelledAt = Date.now();
    env.cancel('TIMED_OUT');
    await hold.clientGone; // the request was aborted, not left to the 120 s request timeout
    expect(await settled).toBe('failed');
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
    const second = await runCopy(attempt({ attempt: 2 }), worker, task);
    expect(second.targetVersionId).toBeDefined();
    hold.release(); // the aborted PUT reaches the server after all, as from a frozen site's socket buffer
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await orderedHistory(target, targetBucket, key)).toEqual([`v:${task.entry.versionId}`]);
  }, 60_000);

  test('with conditional writes off (sites.<name>.conditionalWrites: false) the same race leaves two replicas', async () => {
    // The control: what the fence prevents, so that the cases above can fail.
    const key = 'unfenced/race';
    const late = workerActivities(true, false);
    const prompt = workerActivities(false, false);
    const task = await putSource(key, 'unfenced');
    const hold = proxy.holdNext(isPutOf(key));
    const first = runCopy(attempt(), late, task);
    await hold.held;
    await runCopy(attempt({ attempt: 2 }), prompt, task);
    hold.release();
    await first;
    const replica = `v:${task.entry.versionId}`;
    expect(await orderedHistory(target, targetBucket, key)).toEqual([replica, replica]);
  }, 60_000);
});

describe('delete markers, which S3 cannot write conditionally', () => {
  async function deleteSource(key: string): Promise<ReplicationTask> {
    const deleted = await source.send(new DeleteObjectCommand({ Bucket: sourceBucket, Key: key }));
    const task = putTask(key, deleted.VersionId!, String(++sequence).padStart(20, '0'));
    return { ...task, entry: { ...task.entry, operation: 'delete-marker', size: 0 } };
  }
  /** A key replicated once (v1 through `worker`), then deleted on the source: the marker's task. */
  async function replicatedThenDeleted(key: string, worker: ReplicationActivities) {
    const v1 = await putSource(key, 'one');
    await runCopy(attempt(), worker, v1);
    return { v1, marker: await deleteSource(key) };
  }
  const runDelete = (
    env: MockActivityEnvironment,
    worker: ReplicationActivities,
    task: ReplicationTask,
  ): Promise<ReplicationOutcome> => env.run(() => worker.replicateDeleteMarker(task));
  const path = (key: string) => `/${targetBucket}/${key}`;
  const isMarkerWrite = (key: string) => (method: string, url: URL) =>
    method === 'DELETE' &&
    decodeURIComponent(url.pathname) === path(key) &&
    !url.search.includes('versionId');
  const isListingOf = (key: string) => (method: string, url: URL) =>
    method === 'GET' && url.searchParams.has('versions') && url.searchParams.get('prefix') === key;
  /**
   * v1 replicated, then deleted on the source: `late` sends the marker's DELETE, held until
   * another worker has applied the marker and then a newer version v3; released, it puts a
   * marker above v3. Returns the late attempt's outcome.
   */
  async function strayMarkerRace(key: string, late: ReplicationActivities) {
    const prompt = workerActivities(false);
    const { v1, marker } = await replicatedThenDeleted(key, prompt);
    const hold = proxy.holdNext(isMarkerWrite(key));
    const first = runDelete(attempt(), late, marker);
    await hold.held;
    await runDelete(attempt({ attempt: 2 }), prompt, marker);
    const v3 = await putSource(key, 'three');
    await runCopy(attempt(), prompt, v3);
    hold.release();
    return { v1, v3, outcome: await first };
  }

  /** The late worker's requests to the target that wrote or removed anything for `key`. */
  const writesOf = (key: string) =>
    proxy.log.filter(
      (l) => !l.startsWith('GET ') && !l.startsWith('HEAD ') && decodeURIComponent(l).includes(path(key)),
    );

  test('a marker delivered after the other worker applied it and a newer version is removed again: the newer version stays the latest', async () => {
    const key = 'markers/stray κ %+';
    const { v1, v3, outcome } = await strayMarkerRace(key, workerActivities(true));
    expect(outcome.detail).toBe('already replicated');
    expect(await orderedHistory(target, targetBucket, key)).toEqual([
      `v:${v1.entry.versionId}`,
      'DM',
      `v:${v3.entry.versionId}`,
    ]);
    // It was the late attempt's own marker that went: a version delete of it, sent by that attempt.
    expect(writesOf(key).filter((l) => l.startsWith('DELETE ') && l.includes('versionId='))).toHaveLength(1);
  }, 60_000);

  test('an attempt that finds its view of the target old (a frozen worker resuming) reads it again and writes no marker', async () => {
    const key = 'markers/frozen-view';
    const late = workerActivities(true);
    const prompt = workerActivities(false);
    const { v1, marker } = await replicatedThenDeleted(key, prompt);
    const logFrom = proxy.log.length;
    // The target answers the late attempt's listing at once; the answer waits, as in a frozen worker's socket.
    const hold = proxy.holdNext(isListingOf(key), 'response');
    const first = runDelete(attempt(), late, marker);
    await hold.held;
    const heldAt = Date.now();
    await runDelete(attempt({ attempt: 2 }), prompt, marker);
    const v3 = await putSource(key, 'three');
    await runCopy(attempt(), prompt, v3);
    await new Promise((r) => setTimeout(r, Math.max(0, FRESH_VIEW_MS + 500 - (Date.now() - heldAt))));
    hold.release();
    const outcome = await first;
    expect(outcome.detail).toBe('already replicated');
    expect(proxy.log.slice(logFrom).filter((l) => l.startsWith('DELETE '))).toEqual([]);
    expect(await orderedHistory(target, targetBucket, key)).toEqual([
      `v:${v1.entry.versionId}`,
      'DM',
      `v:${v3.entry.versionId}`,
    ]);
  }, 60_000);

  test('where the target denies version deletes (the documented policy), the stray marker stays and the newer version is put back on top', async () => {
    const key = 'markers/denied';
    const { v1, v3, outcome } = await strayMarkerRace(
      key,
      workerActivities(true, true, leastPrivilegeTarget),
    );
    expect(outcome.detail).toBe('already replicated');
    const replica3 = `v:${v3.entry.versionId}`;
    expect(await orderedHistory(target, targetBucket, key)).toEqual([
      `v:${v1.entry.versionId}`,
      'DM',
      replica3,
      'DM',
      replica3,
    ]);
  }, 60_000);

  test('two workers applying one marker at the same moment leave one marker', async () => {
    const key = 'markers/both';
    const a = workerActivities(true);
    const b = workerActivities(false);
    const { v1, marker } = await replicatedThenDeleted(key, b);
    const hold = proxy.holdNext(isMarkerWrite(key));
    const first = runDelete(attempt(), a, marker);
    await hold.held;
    await runDelete(attempt({ attempt: 2 }), b, marker);
    // AWS puts a second marker above the first, which the late attempt removes again; MinIO
    // makes none on a key whose latest is a marker and answers with that marker's id.
    hold.release();
    const outcome = await first;
    expect(outcome.targetVersionId ?? outcome.detail).toBeDefined();
    expect(await orderedHistory(target, targetBucket, key)).toEqual([`v:${v1.entry.versionId}`, 'DM']);
  }, 60_000);
});

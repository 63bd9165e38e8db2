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
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createReplicationActivities, type ReplicationActivities } from '../../activities';
import { createS3Client, WORKER_MAX_SOCKETS } from '../../clients/s3';
import type { ReplicationOutcome, ReplicationTask } from '../../shared/replication-task';
import { FRESH_VIEW_MS } from '../../activities/delete-marker-check';
import { makeExpiring, UnansweredWrites, WRITE_TTL_SECONDS } from '../../clients/s3-expiring-writes';
import { documentedPolicy, PolicyInstaller } from '../support/least-privilege';
import { RequestHoldingProxy } from '../support/request-holding-proxy';
import { testSecret } from '../support/secure-stack';
import { orderedHistory } from '../support/s3-helpers';
import { testReplicationContext } from '../support/replication-context';
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
  return createReplicationActivities(
    testReplicationContext(site(stack.sites.source), targetClient, {
      conditionalWrites: () => conditionalWrites,
    }),
  );
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

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

  test("two workers, the first one's PUT of the same bytes as the replica below delivered late: refused as expired, one replica", async () => {
    // The fence cannot tell the two versions apart (one ETag); the write's lifetime can.
    const key = 'race-same-bytes/κλειδί %+';
    const late = workerActivities(true);
    const prompt = workerActivities(false);
    const earlier = await putSource(key, 'the same bytes');
    await runCopy(attempt(), prompt, earlier);
    const task = await putSource(key, 'the same bytes');
    const hold = proxy.holdNext(isPutOf(key));
    const first = runCopy(attempt(), late, task);
    await hold.held;
    const heldAt = Date.now();
    const second = await runCopy(attempt({ attempt: 2 }), prompt, task);
    await sleep(WRITE_TTL_SECONDS * 1000 + 1_000 - (Date.now() - heldAt));
    hold.release();
    const firstOutcome = await first;
    expect(firstOutcome.detail).toBe('already replicated');
    expect(firstOutcome.targetVersionId).toBe(second.targetVersionId);
    expect(await orderedHistory(target, targetBucket, key)).toEqual([
      `v:${earlier.entry.versionId}`,
      `v:${task.entry.versionId}`,
    ]);
  }, 60_000);

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
   * v1 replicated, then deleted on the source: `late` sends the marker's DELETE, held (or,
   * with `stage` 'response', the answer to the request `holds` matches) until another worker
   * has applied the marker and then a newer version v3, and at least `releaseAfterMs` after
   * it was held; released, it would put a marker above v3. Returns the late attempt's outcome
   * and the requests sent through the proxy meanwhile.
   */
  async function strayMarkerRace(
    key: string,
    late: ReplicationActivities,
    { holds = isMarkerWrite(key), stage = 'request' as 'request' | 'response', releaseAfterMs = 0 } = {},
  ) {
    const prompt = workerActivities(false);
    const { v1, marker } = await replicatedThenDeleted(key, prompt);
    const logFrom = proxy.log.length;
    const hold = proxy.holdNext(holds, stage);
    const first = runDelete(attempt(), late, marker);
    await hold.held;
    const heldAt = Date.now();
    await runDelete(attempt({ attempt: 2 }), prompt, marker);
    const v3 = await putSource(key, 'three');
    await runCopy(attempt(), prompt, v3);
    await sleep(releaseAfterMs - (Date.now() - heldAt));
    hold.release();
    return { v1, v3, outcome: await first, requests: proxy.log.slice(logFrom) };
  }

  /** The history every marker race must leave: v1, the marker, v3 the latest. */
  async function expectMarkerBetween(key: string, v1: ReplicationTask, v3: ReplicationTask) {
    expect(await orderedHistory(target, targetBucket, key)).toEqual([
      `v:${v1.entry.versionId}`,
      'DM',
      `v:${v3.entry.versionId}`,
    ]);
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
    await expectMarkerBetween(key, v1, v3);
    // It was the late attempt's own marker that went: a version delete of it, sent by that attempt.
    expect(writesOf(key).filter((l) => l.startsWith('DELETE ') && l.includes('versionId='))).toHaveLength(1);
  }, 60_000);

  test('an attempt that finds its view of the target old (a frozen worker resuming) reads it again and writes no marker', async () => {
    const key = 'markers/frozen-view';
    // The target answers the late attempt's listing at once; the answer waits, as in a frozen worker's socket.
    const { v1, v3, outcome, requests } = await strayMarkerRace(key, workerActivities(true), {
      holds: isListingOf(key),
      stage: 'response',
      releaseAfterMs: FRESH_VIEW_MS + 500,
    });
    expect(outcome.detail).toBe('already replicated');
    expect(requests.filter((l) => l.startsWith('DELETE '))).toEqual([]);
    await expectMarkerBetween(key, v1, v3);
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

  test('a marker held past its signature lifetime is refused on arrival: no stray marker, nothing to remove', async () => {
    const key = 'markers/expired κ %+';
    const { v1, v3, outcome, requests } = await strayMarkerRace(key, workerActivities(true), {
      releaseAfterMs: WRITE_TTL_SECONDS * 1000 + 1_000,
    });
    expect(outcome.detail).toBe('already replicated');
    const deletes = requests.filter((l) => l.startsWith('DELETE '));
    // The marker write carried its lifetime; no version delete was needed after it.
    expect(deletes).toHaveLength(1);
    expect(deletes[0]).toContain(`X-Amz-Expires=${WRITE_TTL_SECONDS}`);
    await expectMarkerBetween(key, v1, v3);
  }, 60_000);

  test("a cancelled attempt's unanswered marker keeps the key in its worker until it expired: delivered right after, it is refused", async () => {
    const key = 'markers/cancelled-unanswered';
    const worker = workerActivities(true);
    const { v1, marker } = await replicatedThenDeleted(key, workerActivities(false));
    const hold = proxy.holdNext(isMarkerWrite(key));
    const env = attempt();
    const first = runDelete(env, worker, marker).then(
      () => 'completed',
      () => 'failed',
    );
    await hold.held;
    const heldAt = performance.now();
    env.cancel('TIMED_OUT');
    await hold.clientGone;
    expect(await first).toBe('failed'); // the attempt itself ends at once
    await runDelete(attempt({ attempt: 2 }), worker, marker);
    // The next attempt on the key waited for the unanswered marker's signature to expire.
    expect(performance.now() - heldAt).toBeGreaterThanOrEqual(WRITE_TTL_SECONDS * 1000 - 100);
    const v3 = await putSource(key, 'three');
    await runCopy(attempt(), worker, v3);
    // Delivered now, as from a healed partition: had the key not waited, it would land above v3.
    hold.release();
    await sleep(1_000);
    await expectMarkerBetween(key, v1, v3);
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

describe('tag sets, which S3 cannot write conditionally', () => {
  const tagsTask = (key: string, versionId: string): ReplicationTask => {
    const task = putTask(key, versionId, String(++sequence).padStart(20, '0'));
    return { ...task, entry: { ...task.entry, operation: 'metadata', size: 0 } };
  };
  const setSourceTags = (key: string, VersionId: string, value: string) =>
    source.send(
      new PutObjectTaggingCommand({
        Bucket: sourceBucket,
        Key: key,
        VersionId,
        Tagging: { TagSet: [{ Key: 'stage', Value: value }] },
      }),
    );
  const isTagWrite = (key: string) => (method: string, url: URL) =>
    method === 'PUT' &&
    decodeURIComponent(url.pathname) === `/${targetBucket}/${key}` &&
    url.searchParams.has('tagging');

  test('an older tag set delivered late is refused: the newer tags stay on the replica', async () => {
    const key = 'tags/late κ %+';
    const late = workerActivities(true);
    const prompt = workerActivities(false);
    const v1 = await putSource(key, 'tagged');
    const copied = await runCopy(attempt(), prompt, v1);
    const versionId = v1.entry.versionId;
    await setSourceTags(key, versionId, 'first');
    const hold = proxy.holdNext(isTagWrite(key));
    const first = env(late, tagsTask(key, versionId));
    await hold.held;
    const heldAt = Date.now();
    // Meanwhile the tags change again and another worker replicates the newer set.
    await setSourceTags(key, versionId, 'second');
    await env(prompt, tagsTask(key, versionId));
    await sleep(WRITE_TTL_SECONDS * 1000 + 1_000 - (Date.now() - heldAt));
    hold.release();
    // Refused without acting, the late attempt fails for a retry (which finds the tags agree).
    await expect(first).rejects.toThrow(/^\[WRITE_EXPIRED\] replicating tags failed/);
    await expect(first).rejects.toMatchObject({ nonRetryable: false });
    const tags = await target.send(
      new GetObjectTaggingCommand({ Bucket: targetBucket, Key: key, VersionId: copied.targetVersionId }),
    );
    expect(tags.TagSet?.find((t) => t.Key === 'stage')?.Value).toBe('second');
    const retry = await env(late, tagsTask(key, versionId), 2);
    expect(retry.detail).toMatch(/^already replicated/);
  }, 60_000);

  function env(worker: ReplicationActivities, task: ReplicationTask, n = 1): Promise<ReplicationOutcome> {
    return attempt({ attempt: n }).run(() => worker.replicateObjectTags(task));
  }
});

describe("writes dated by the target's clock", () => {
  // The worker's clock 10 minutes off the target's (within the 15 minutes S3 allows for
  // header-signed requests): a write signed by the worker's own clock would reach the target
  // expired (or valid for 10 minutes). The SDK's offset, taken from the Date header of the
  // first answer, dates it by the target's clock.
  test.each([
    ['behind', -600_000],
    ['ahead of', 600_000],
  ])(
    'with the worker clock 10 minutes %s the target: copies, tags and markers land',
    async (_how, skew) => {
      const key = `clock/${skew > 0 ? 'ahead' : 'behind'} κ %+`;
      const worker = workerActivities(true); // a new client: no offset measured yet
      const logFrom = proxy.log.length;
      const v1 = await putSource(key, 'one');
      const deleted = await source.send(new DeleteObjectCommand({ Bucket: sourceBucket, Key: key }));
      const next = () => String(++sequence).padStart(20, '0');
      const tagsTask = { ...v1, entry: { ...v1.entry, operation: 'metadata' as const, sequence: next() } };
      const markerTask = putTask(key, deleted.VersionId!, next());
      const realNow = Date.now.bind(Date);
      const skewed = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
      try {
        const copied = await runCopy(attempt(), worker, v1);
        expect(copied.targetVersionId).toBeDefined();
        // A tag change after the copy, so that the tags activity writes.
        await source.send(
          new PutObjectTaggingCommand({
            Bucket: sourceBucket,
            Key: key,
            VersionId: v1.entry.versionId,
            Tagging: { TagSet: [{ Key: 'clock', Value: 'skewed' }] },
          }),
        );
        const tagged: ReplicationOutcome = await attempt().run(() => worker.replicateObjectTags(tagsTask));
        expect(tagged.detail).toBe('1 tags');
        const marker: ReplicationOutcome = await attempt().run(() =>
          worker.replicateDeleteMarker({
            ...markerTask,
            entry: { ...markerTask.entry, operation: 'delete-marker', size: 0 },
          }),
        );
        expect(marker.targetVersionId).toBeDefined();
      } finally {
        skewed.mockRestore();
      }
      expect(await orderedHistory(target, targetBucket, key)).toEqual([`v:${v1.entry.versionId}`, 'DM']);
      // Every write was dated by the target's clock (this machine's), not the skewed one.
      const dates = proxy.log
        .slice(logFrom)
        .filter((l) => !l.startsWith('GET ') && !l.startsWith('HEAD '))
        .map((l) => /X-Amz-Date=(\d{8}T\d{6}Z)/.exec(l)?.[1]);
      expect(dates.length).toBeGreaterThanOrEqual(3); // PUT, tags, marker
      for (const date of dates) {
        expect(date).toBeDefined();
        const at = Date.parse(
          date!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
        );
        expect(Math.abs(at - Date.now())).toBeLessThan(60_000);
      }
    },
    60_000,
  );
});

describe('the lifetime bounds when a write arrives, not how long it takes', () => {
  /** A client straight to the target, with the worker's socket pool. */
  function directTargetClient(): S3Client {
    const { endpoint, region, accessKeyId, secretAccessKey } = stack.sites.target;
    const client = createS3Client(
      { endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } },
      WORKER_MAX_SOCKETS,
    );
    clients.push(client);
    return client;
  }

  // A single PUT streams up to multipartThresholdBytes (256 MiB) from the source: on a slow
  // link its body takes far longer than WRITE_TTL_SECONDS. The target checks the signature's
  // lifetime when the request arrives; were it checked once the body was read, such a copy
  // would be refused as expired on every attempt.
  test('a PUT whose body takes twice the lifetime to send lands', async () => {
    const key = 'lifetime/slow body ü %+';
    const client = directTargetClient();
    const chunk = Buffer.alloc(64 * 1024, 'b');
    const chunks = 20;
    const pauseMs = (WRITE_TTL_SECONDS * 2 * 1000) / chunks;
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent === chunks) {
          this.push(null);
          return;
        }
        setTimeout(() => {
          sent++;
          this.push(chunk);
        }, pauseMs);
      },
    });
    const unanswered = new UnansweredWrites();
    const started = performance.now();
    const put = await client.send(
      makeExpiring(
        client,
        new PutObjectCommand({
          Bucket: targetBucket,
          Key: key,
          Body: body,
          ContentLength: chunk.length * chunks,
        }),
        unanswered,
      ),
    );
    expect(performance.now() - started).toBeGreaterThan(WRITE_TTL_SECONDS * 1000 * 1.5);
    expect(put.VersionId).toBeDefined();
    const head = await target.send(new HeadObjectCommand({ Bucket: targetBucket, Key: key }));
    expect(head).toMatchObject({ ContentLength: chunk.length * chunks, VersionId: put.VersionId });
    expect(unanswered.remainingMs()).toBe(0);
  }, 60_000);

  // A worker copying many large objects keeps a socket per part upload busy for seconds. A
  // small copy's PUT, signed before it is handed to the socket pool, must not wait there:
  // it would reach the target expired, and so would every attempt after it.
  test("a write is not kept waiting for a socket behind long uploads (the worker's pool)", async () => {
    const client = directTargetClient();
    // More than the pool the worker had before (32 activities × 4 parts), each busy for 5 s.
    const uploads = 130;
    const holdMs = 5_000;
    const slowBody = () => {
      let pushed = 0;
      return new Readable({
        read() {
          if (pushed === 2) {
            this.push(null);
            return;
          }
          setTimeout(() => this.push(Buffer.alloc(1024, ++pushed)), pushed === 0 ? 0 : holdMs);
        },
      });
    };
    const slow = Array.from({ length: uploads }, (_, i) =>
      client.send(
        new PutObjectCommand({
          Bucket: targetBucket,
          Key: `lifetime/busy/${i}`,
          Body: slowBody(),
          ContentLength: 2048,
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 500));
    const started = performance.now();
    const put = await client.send(
      makeExpiring(
        client,
        new PutObjectCommand({ Bucket: targetBucket, Key: 'lifetime/small', Body: 'small' }),
        new UnansweredWrites(),
      ),
    );
    const tookMs = performance.now() - started;
    expect(put.VersionId).toBeDefined();
    expect(tookMs).toBeLessThan(WRITE_TTL_SECONDS * 1000);
    const done = await Promise.all(slow);
    expect(done.filter((d) => d.VersionId !== undefined)).toHaveLength(uploads);
  }, 60_000);
});

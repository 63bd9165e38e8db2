/**
 * Replication in both directions on the real stack: the same bucket name on both MinIO
 * sites, each a source for the other (rules `source → target` and `target → source`, one
 * worker and one populator for both). A write on either side reaches the other once; a
 * replica is never replicated back; delete markers converge.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { runReplicationCli } from '../support/cli-process';
import { HttpInterceptProxy } from '../support/http-intercept-proxy';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { listHistories } from '../support/ordered-versions';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const siteA = s3ClientFor(stack.sites.source);
const siteB = s3ClientFor(stack.sites.target);
const bucket = uniqueBucket('twoway');
// The engine reaches site A through this pass-through proxy, so a test can make a user's
// change land between the engine's read of A and its next request.
const proxyA = new HttpInterceptProxy(new URL(stack.sites.source.endpoint));
const harness = new ReplicationHarness(
  stack,
  'twoway',
  [
    { site: 'target', bucket, from: { site: 'source', bucket } },
    { site: 'source', bucket, from: { site: 'target', bucket } },
  ],
  {},
  (raw) => {
    raw.sites.source!.endpoint = `http://${proxyA.address}`;
  },
);
// The harness's own source bucket is not used: both sides use `bucket`.

beforeAll(async () => {
  await proxyA.open();
  await harness.start();
}, 120_000);
afterAll(async () => {
  await harness.stop();
  await proxyA.close();
}, 60_000);

/** Each side's history of a key, oldest first: "v" versions (with their body) and "DM". */
async function historyOf(s3: S3Client, key: string): Promise<string[]> {
  const histories = await listHistories(s3, bucket, key);
  return (histories.get(key) ?? []).map((e) => (e.kind === 'delete-marker' ? 'DM' : 'v'));
}

async function settle(keys: string[], expected: Record<string, [number, number]>): Promise<void> {
  await waitFor(
    'both sites to hold every change',
    async () => {
      for (const key of keys) {
        const [a, b] = await Promise.all([historyOf(siteA, key), historyOf(siteB, key)]);
        if (a.length !== expected[key]![0] || b.length !== expected[key]![1]) return undefined;
      }
      return true;
    },
    60_000,
  );
}

test('a write on either side reaches the other once, and nothing comes back', async () => {
  const a = await siteA.send(new PutObjectCommand({ Bucket: bucket, Key: 'from-a', Body: 'written on A' }));
  const b = await siteB.send(new PutObjectCommand({ Bucket: bucket, Key: 'from-b', Body: 'written on B' }));
  await harness.waitForVersion('target', 'from-a', a.VersionId!, { bucket });
  await harness.waitForVersion('source', 'from-b', b.VersionId!, { bucket, sourceSite: 'target' });
  await settle(['from-a', 'from-b'], { 'from-a': [1, 1], 'from-b': [1, 1] });
  // `status` of a key written on B names B as its source.
  const status = await runReplicationCli(harness.configPath, [
    'status',
    `s3://${bucket}/from-b`,
    '--source-site',
    'target',
  ]);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(new RegExp(`source: COMPLETED put version ${b.VersionId}`));
  // Stable: no ping-pong after a few more seconds.
  await new Promise((r) => setTimeout(r, 4_000));
  expect(await historyOf(siteA, 'from-a')).toEqual(['v']);
  expect(await historyOf(siteB, 'from-a')).toEqual(['v']);
  expect(await historyOf(siteA, 'from-b')).toEqual(['v']);
  expect(await historyOf(siteB, 'from-b')).toEqual(['v']);
}, 120_000);

test('overwrites and deletes on either side converge, without echoes', async () => {
  await siteA.send(new PutObjectCommand({ Bucket: bucket, Key: 'both', Body: 'one (A)' }));
  await settle(['both'], { both: [1, 1] });
  await siteB.send(new PutObjectCommand({ Bucket: bucket, Key: 'both', Body: 'two (B)' }));
  await settle(['both'], { both: [2, 2] });
  await siteA.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'both' }));
  await settle(['both'], { both: [3, 3] });
  await siteB.send(new PutObjectCommand({ Bucket: bucket, Key: 'both', Body: 'three (B)' }));
  await settle(['both'], { both: [4, 4] });
  await siteB.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'both' }));
  await settle(['both'], { both: [5, 5] });
  await new Promise((r) => setTimeout(r, 4_000));
  expect(await historyOf(siteA, 'both')).toEqual(['v', 'v', 'DM', 'v', 'DM']);
  expect(await historyOf(siteB, 'both')).toEqual(['v', 'v', 'DM', 'v', 'DM']);
}, 180_000);

/** The body of a key's latest version, or "deleted". */
async function latestBody(s3: S3Client, key: string): Promise<string> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await got.Body!.transformToString();
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return 'deleted';
    throw err;
  }
}

test('concurrent writes to the same key on both sides converge to the same latest (the later write wins)', async () => {
  const keys = Array.from({ length: 8 }, (_, i) => `race/${i}`);
  const writes = await Promise.all(
    keys.map((key, i) =>
      Promise.all([
        siteA.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `A ${i}` })),
        i % 3 === 0
          ? siteB.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
          : siteB.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `B ${i}` })),
      ]),
    ),
  );
  const converged = await waitFor(
    'both sites to agree on every latest',
    async () => {
      const pairs = await Promise.all(
        keys.map(async (k) => [await latestBody(siteA, k), await latestBody(siteB, k)]),
      );
      return pairs.every(([a, b]) => a === b) ? pairs : undefined;
    },
    60_000,
  ).catch(async (err: unknown) => {
    const pairs = await Promise.all(
      keys.map(async (k) => [k, await latestBody(siteA, k), await latestBody(siteB, k)]),
    );
    throw new Error(`${(err as Error).message}: ${JSON.stringify(pairs)}`);
  });
  // The later write won (on a tie, site "target", whose name sorts last).
  for (const [i, key] of keys.entries()) {
    if (i % 3 === 0) continue;
    const [a, b] = writes[i]! as [{ VersionId?: string }, { VersionId?: string }];
    // Listings give milliseconds (HEAD's Last-Modified only seconds).
    const timeOf = async (s3: S3Client, versionId?: string) => {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
      return page.Versions!.find((v) => v.VersionId === versionId)!.LastModified!.getTime();
    };
    const [onA, onB] = await Promise.all([timeOf(siteA, a.VersionId), timeOf(siteB, b.VersionId)]);
    const aWins = onA > onB;
    expect(converged[i]![0]).toBe(aWins ? `A ${i}` : `B ${i}`);
  }
  // Stable: the same a few seconds later, with the same version counts.
  const counts = await Promise.all(
    keys.map(async (k) => [(await historyOf(siteA, k)).length, (await historyOf(siteB, k)).length]),
  );
  await new Promise((r) => setTimeout(r, 5_000));
  expect(
    await Promise.all(keys.map(async (k) => [await latestBody(siteA, k), await latestBody(siteB, k)])),
  ).toEqual(converged);
  expect(
    await Promise.all(
      keys.map(async (k) => [(await historyOf(siteA, k)).length, (await historyOf(siteB, k)).length]),
    ),
  ).toEqual(counts);
}, 120_000);

/** A version's tags as a user set them (the engine's marker and stamp left out), sorted. */
async function userTagsOf(s3: S3Client, key: string, versionId?: string): Promise<Record<string, string>> {
  const got = await s3.send(
    new GetObjectTaggingCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
  );
  return Object.fromEntries(
    (got.TagSet ?? [])
      .filter((t) => !t.Key!.startsWith('scal-crr'))
      .map((t) => [t.Key!, t.Value!] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

async function setTags(s3: S3Client, key: string, tags: Record<string, string>): Promise<void> {
  await s3.send(
    new PutObjectTaggingCommand({
      Bucket: bucket,
      Key: key,
      Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
    }),
  );
}

async function tagsConverge(keys: string[], timeoutMs = 60_000): Promise<Array<Record<string, string>>> {
  return waitFor(
    'both sites to hold the same tags',
    async () => {
      const pairs = await Promise.all(
        keys.map((k) => Promise.all([userTagsOf(siteA, k), userTagsOf(siteB, k)])),
      );
      return pairs.every(([a, b]) => JSON.stringify(a) === JSON.stringify(b))
        ? pairs.map(([a]) => a)
        : undefined;
    },
    timeoutMs,
  ).catch(async (err: unknown) => {
    const pairs = await Promise.all(
      keys.map(async (k) => [k, await userTagsOf(siteA, k), await userTagsOf(siteB, k)]),
    );
    throw new Error(`${(err as Error).message}: ${JSON.stringify(pairs)}`);
  });
}

test('tag changes on either side converge: a change on a replica reaches the original, the later of concurrent changes wins, nothing echoes', async () => {
  // Versions written on A (so B holds replicas) and on B (so A holds replicas).
  const keys = ['tags/a', 'tags/b'];
  await siteA.send(new PutObjectCommand({ Bucket: bucket, Key: 'tags/a', Body: 'a', Tagging: 'origin=a' }));
  await siteB.send(new PutObjectCommand({ Bucket: bucket, Key: 'tags/b', Body: 'b', Tagging: 'origin=b' }));
  await settle(keys, { 'tags/a': [1, 1], 'tags/b': [1, 1] });
  expect(await tagsConverge(keys)).toEqual([{ origin: 'a' }, { origin: 'b' }]);

  // A change made on the replica reaches the original, and one on the original the replica.
  await setTags(siteB, 'tags/a', { color: 'blue', changed: 'on-replica' });
  await setTags(siteB, 'tags/b', { color: 'green', changed: 'on-original' });
  expect(await tagsConverge(keys)).toEqual([
    { changed: 'on-replica', color: 'blue' },
    { changed: 'on-original', color: 'green' },
  ]);
  await setTags(siteA, 'tags/a', {}); // tags removed on the original
  await setTags(siteA, 'tags/b', { size: 'xl' }); // and changed on A's replica of B's version
  expect(await tagsConverge(keys)).toEqual([{}, { size: 'xl' }]);

  // Concurrent changes on both sides: the later (by 400 ms) wins on both, whichever side it is.
  const race = ['tags/race-0', 'tags/race-1', 'tags/race-2', 'tags/race-3'];
  for (const [i, key] of race.entries())
    await (i % 2 === 0 ? siteA : siteB).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
  await settle(race, Object.fromEntries(race.map((k) => [k, [1, 1]])));
  await Promise.all(
    race.map(async (key, i) => {
      const [first, second] = i < 2 ? [siteA, siteB] : [siteB, siteA];
      await setTags(first, key, { writer: 'first' });
      await new Promise((r) => setTimeout(r, 400));
      await setTags(second, key, { writer: 'second' });
    }),
  );
  expect(await tagsConverge(race)).toEqual(race.map(() => ({ writer: 'second' })));

  // No echo: a few seconds later the same tags, still one version each, and no key workflow
  // left running (a ping-pong would keep signalling them).
  const all = [...keys, ...race];
  const before = await Promise.all(all.map((k) => Promise.all([userTagsOf(siteA, k), userTagsOf(siteB, k)])));
  await new Promise((r) => setTimeout(r, 5_000));
  expect(
    await Promise.all(all.map((k) => Promise.all([userTagsOf(siteA, k), userTagsOf(siteB, k)]))),
  ).toEqual(before);
  for (const key of all)
    expect([(await historyOf(siteA, key)).length, (await historyOf(siteB, key)).length]).toEqual([1, 1]);
  await waitFor(
    'every key workflow of the tag changes to end',
    async () => {
      let running = 0;
      for await (const run of harness.temporal.workflow.list({
        query: `CrrBucket = '${bucket}' AND ExecutionStatus = 'Running'`,
      }))
        if (run.workflowId.includes('/tags/')) running++;
      return running === 0 ? true : undefined;
    },
    30_000,
  );
}, 240_000);

test.each([
  ['made on the side the change came from', 'raced/same-side é+%', 'A'],
  ['made on the side the change is copied to', 'raced/other-side é+%', 'B'],
] as const)(
  'a tag change %s while the engine syncs the previous one is not overwritten',
  async (_, key, firstOn) => {
    await siteA.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'raced', Tagging: 'change=0' }));
    await settle([key], { [key]: [1, 1] });
    expect(await tagsConverge([key])).toEqual([{ change: '0' }]);

    // The first change is made on `firstOn`; the second lands on A right after the engine read
    // A's tags to sync the first, before it writes anything. S3 has no conditional tag write:
    // the engine must not write the first change over the second (on A it came from, or on A
    // it copies to), and the second, the later, wins on both sides.
    const encodedKey = encodeURIComponent(key).replace(/%2F/g, '/');
    const secondLanded = proxyA.afterAnswerTo(
      (method, url) =>
        method === 'GET' && url.searchParams.has('tagging') && url.pathname.endsWith(`/${encodedKey}`),
      () => setTags(siteA, key, { change: '2' }),
    );
    await setTags(firstOn === 'A' ? siteA : siteB, key, { change: '1' });
    await secondLanded;
    expect(await tagsConverge([key])).toEqual([{ change: '2' }]);
    // Still there a few seconds later, on both sides, with one version each.
    await new Promise((r) => setTimeout(r, 5_000));
    expect([await userTagsOf(siteA, key), await userTagsOf(siteB, key)]).toEqual([
      { change: '2' },
      { change: '2' },
    ]);
    expect([(await historyOf(siteA, key)).length, (await historyOf(siteB, key)).length]).toEqual([1, 1]);
  },
  120_000,
);

test('overwrites, deletes and tag changes on both sides at once converge key by key', async () => {
  const keys = Array.from({ length: 6 }, (_, i) => `mixed/${i} é+%`);
  // Every key starts on one side and reaches the other.
  for (const [i, key] of keys.entries())
    await (i % 2 === 0 ? siteA : siteB).send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${key} v0` }),
    );
  await settle(keys, Object.fromEntries(keys.map((k) => [k, [1, 1]])));
  // Then, at once on both sides: keys 0-1 get overwritten and deleted on both, keys 2-3 get
  // an overwrite on one side and a delete on the other, keys 4-5 get tag changes on both
  // sides (and an overwrite of key 5 on A after its tags settle).
  const site = (s: 'A' | 'B') => (s === 'A' ? siteA : siteB);
  const put = (s: 'A' | 'B', key: string, body: string) =>
    site(s).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const del = (s: 'A' | 'B', key: string) =>
    site(s).send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  await Promise.all([
    (async () => {
      await put('A', keys[0]!, 'A1');
      await del('A', keys[0]!);
      await put('A', keys[0]!, 'A2');
    })(),
    (async () => {
      await del('B', keys[0]!);
      await put('B', keys[0]!, 'B1');
    })(),
    put('A', keys[1]!, 'A1').then(() => put('A', keys[1]!, 'A2')),
    put('B', keys[1]!, 'B1').then(() => del('B', keys[1]!)),
    put('A', keys[2]!, 'A1'),
    del('B', keys[2]!),
    del('A', keys[3]!),
    put('B', keys[3]!, 'B1'),
    setTags(siteA, keys[4]!, { side: 'A' }).then(() => setTags(siteA, keys[4]!, { side: 'A', step: '2' })),
    setTags(siteB, keys[4]!, { side: 'B' }),
    setTags(siteB, keys[5]!, { side: 'B' }),
  ]);
  await tagsConverge([keys[5]!]);
  await put('A', keys[5]!, 'A1');

  // Per key: the same latest (body or deleted), the same set of bodies, the same tags on
  // the latest, on both sites; stable 5 s later (no echo, no version count growing).
  const bodiesOf = async (s3: S3Client, key: string) => {
    const histories = await listHistories(s3, bucket, key);
    const bodies = new Set<string>();
    for (const v of histories.get(key) ?? []) {
      if (v.kind !== 'version') continue;
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: v.versionId }));
      bodies.add(await got.Body!.transformToString());
    }
    return [...bodies].sort();
  };
  const view = async () =>
    Promise.all(
      keys.map(async (key) => {
        const [latestA, latestB, bodiesA, bodiesB] = await Promise.all([
          latestBody(siteA, key),
          latestBody(siteB, key),
          bodiesOf(siteA, key),
          bodiesOf(siteB, key),
        ]);
        const tagsA = latestA === 'deleted' ? {} : await userTagsOf(siteA, key);
        const tagsB = latestB === 'deleted' ? {} : await userTagsOf(siteB, key);
        return {
          key,
          a: { latest: latestA, bodies: bodiesA, tags: tagsA },
          b: { latest: latestB, bodies: bodiesB, tags: tagsB },
        };
      }),
    );
  const converged = await waitFor(
    'both sites to agree key by key',
    async () => {
      const v = await view();
      return v.every((k) => JSON.stringify(k.a) === JSON.stringify(k.b)) ? v : undefined;
    },
    90_000,
  ).catch(async (err: unknown) => {
    throw new Error(`${(err as Error).message}: ${JSON.stringify(await view(), null, 1)}`);
  });
  // Every body written on either side is on both sites (losing puts are kept below the winner).
  expect(converged[0]!.a.bodies).toEqual(expect.arrayContaining(['A1', 'A2', 'B1']));
  expect(converged[1]!.a.bodies).toEqual(expect.arrayContaining(['A1', 'A2', 'B1']));
  expect(converged[2]!.a.bodies).toEqual(expect.arrayContaining(['A1']));
  expect(converged[3]!.a.bodies).toEqual(expect.arrayContaining(['B1']));
  // Tags: key 5's tags agreed before A's overwrite; key 4: the last change (A's second) wins
  // unless B's came later, and either way both sites agree.
  expect([{ side: 'B' }, { side: 'A', step: '2' }]).toContainEqual(converged[4]!.a.tags);
  expect(converged[5]!.a.latest).toBe('A1');
  const counts = async () =>
    Promise.all(
      keys.map(async (k) => [(await historyOf(siteA, k)).length, (await historyOf(siteB, k)).length]),
    );
  const before = await counts();
  await new Promise((r) => setTimeout(r, 5_000));
  expect(await view()).toEqual(converged);
  expect(await counts()).toEqual(before);
}, 240_000);

/**
 * One-to-many and many-to-one on the real stack, with one worker and one populator:
 * - a bucket replicated to two destination sites (each its own status);
 * - two source buckets on different sites (the stack's two MinIO servers) replicated into one
 *   target bucket, each under its own prefix, each with its own status.
 * Each ends with a per-key comparison of the whole version histories, and of the tags
 * changed on the latest and an older version.
 */
import {
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { listHistories } from '../support/ordered-versions';
import { backfillRequests, backfillStatus, startBackfills } from '../../operations/backfill';
import { diffBucket, type DiffFinding } from '../../operations/diff';
import { checkBucket, describeFindings } from '../support/replica-check';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const siteA = s3ClientFor(stack.sites.source);
const siteB = s3ClientFor(stack.sites.target);
const fanOut = { east: uniqueBucket('fan-east'), west: uniqueBucket('fan-west') };
const fromB = uniqueBucket('many-b');
const hub = uniqueBucket('many-hub');
// Sites "east", "west" and "hub" are named views of the stack's target MinIO.
const harness = new ReplicationHarness(
  stack,
  'topo',
  [
    { site: 'east', bucket: fanOut.east, prefix: 'fan/' },
    { site: 'west', bucket: fanOut.west, prefix: 'fan/' },
    { site: 'hub', bucket: hub, prefix: 'a/' },
    { site: 'hub', bucket: hub, prefix: 'b/', from: { site: 'target', bucket: fromB } },
  ],
  { backfillScopePollMs: 300 },
  (raw) => {
    (raw as Record<string, unknown>).backfill = { startDelaySeconds: 1 };
  },
);

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

async function writeChanges(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const versions: string[] = [];
  for (let k = 0; k < 4; k++) {
    const key = `${prefix}key-${k} é+%`;
    for (let v = 0; v < 3; v++) {
      const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${key} v${v}` }));
      versions.push(put.VersionId!);
    }
    if (k % 2 === 0) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    // A metadata-only change of the latest and of an older version.
    else
      for (const versionId of [versions.at(-1)!, versions.at(-3)!])
        await s3.send(
          new PutObjectTaggingCommand({
            Bucket: bucket,
            Key: key,
            VersionId: versionId,
            Tagging: { TagSet: [{ Key: 'changed', Value: `${k} ${versionId.slice(0, 8)}` }] },
          }),
        );
  }
  return versions;
}

/** The user's tags of every version of the tagged keys, in history order, on one site. */
async function tagsOf(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  const histories = await listHistories(s3, bucket, prefix);
  for (const k of [1, 3]) {
    const key = `${prefix}key-${k} é+%`;
    for (const v of histories.get(key) ?? []) {
      if (v.kind !== 'version') continue;
      const got = await s3.send(
        new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: v.versionId }),
      );
      found.push(
        `${key}#${(got.TagSet ?? [])
          .filter((t) => !t.Key!.startsWith('scal-crr'))
          .map((t) => `${t.Key}=${t.Value}`)
          .join(',')}`,
      );
    }
  }
  return found;
}

async function expectSameTags(source: S3Client, sourceBucket: string, targetBucket: string, prefix: string) {
  const wanted = await tagsOf(source, sourceBucket, prefix);
  expect(wanted.filter((t) => t.includes('changed=')).length).toBe(4);
  await waitFor(
    `the tags of s3://${targetBucket}/${prefix} to match`,
    async () =>
      JSON.stringify(await tagsOf(siteB, targetBucket, prefix)) === JSON.stringify(wanted) ? true : undefined,
    30_000,
  ).catch(async () => expect(await tagsOf(siteB, targetBucket, prefix)).toEqual(wanted));
}

async function expectIdentical(source: S3Client, sourceBucket: string, targetBucket: string, prefix: string) {
  const check = await waitFor(
    `s3://${targetBucket}/${prefix} to match s3://${sourceBucket}/${prefix}`,
    async () => {
      const c = await checkBucket(
        { source, target: siteB, sourceBucket, targetBucket },
        { deleteMarkers: true },
        prefix,
      );
      return c.findings.length === 0 && c.targetVersions === c.sourceVersions ? c : undefined;
    },
    60_000,
  ).catch(async () =>
    checkBucket({ source, target: siteB, sourceBucket, targetBucket }, { deleteMarkers: true }, prefix),
  );
  expect(describeFindings(check.findings)).toBe('');
  expect(check).toMatchObject({ lost: 0, duplicated: 0, reordered: 0, latestMismatch: 0, unexpected: 0 });
  expect(check.sourceVersions).toBe(12);
  expect(check.sourceDeleteMarkers).toBe(2);
}

test('one bucket to two sites: both get every version in order, each with its own status', async () => {
  const versions = await writeChanges(siteA, harness.sourceBucket, 'fan/');
  await expectIdentical(siteA, harness.sourceBucket, fanOut.east, 'fan/');
  await expectIdentical(siteA, harness.sourceBucket, fanOut.west, 'fan/');
  await expectSameTags(siteA, harness.sourceBucket, fanOut.east, 'fan/');
  await expectSameTags(siteA, harness.sourceBucket, fanOut.west, 'fan/');
  const last = versions.at(-1)!;
  expect((await harness.waitForVersion('east', 'fan/key-3 é+%', last)).status).toBe('COMPLETED');
  expect((await harness.waitForVersion('west', 'fan/key-3 é+%', last)).status).toBe('COMPLETED');
}, 180_000);

test('two source buckets on different sites into one bucket, under their own prefixes', async () => {
  const [fromA, fromBVersions] = await Promise.all([
    writeChanges(siteA, harness.sourceBucket, 'a/'),
    writeChanges(siteB, fromB, 'b/'),
  ]);
  await expectIdentical(siteA, harness.sourceBucket, hub, 'a/');
  await expectIdentical(siteB, fromB, hub, 'b/');
  await expectSameTags(siteA, harness.sourceBucket, hub, 'a/');
  await expectSameTags(siteB, fromB, hub, 'b/');
  // Each source has its own replication workflows and status.
  const a = await harness.waitForVersion('hub', 'a/key-3 é+%', fromA.at(-1)!);
  const b = await harness.waitForVersion('hub', 'b/key-3 é+%', fromBVersions.at(-1)!, {
    bucket: fromB,
    sourceSite: 'target',
  });
  expect([a.status, b.status]).toEqual(['COMPLETED', 'COMPLETED']);
}, 180_000);

test('backfill and diff of a bucket on another source site than sourceSite', async () => {
  // b/ was replicated by the previous test; one replica is then deleted on purpose.
  const key = 'b/key-1 é+%';
  const replicas = await listHistories(siteB, hub, key);
  // The newest replica (histories are oldest first): copied again above the others.
  const latest = replicas
    .get(key)!
    .filter((v) => v.kind === 'version')
    .at(-1)!;
  await siteB.send(new DeleteObjectCommand({ Bucket: hub, Key: key, VersionId: latest.versionId }));
  const diff = async () => {
    const found: DiffFinding[] = [];
    for await (const f of diffBucket(harness.config, {
      bucket: fromB,
      sourceSite: 'target',
      site: 'hub',
      prefix: 'b/',
      source: siteB,
      target: siteB,
    }))
      found.push(f);
    return found;
  };
  const before = await diff();
  expect(before.filter((f) => f.kind === 'missing').map((f) => f.key)).toEqual([key]);
  // Unknown source sites and buckets without a rule there are refused by name.
  expect(() => backfillRequests(harness.config, { bucket: fromB, sourceSite: 'nowhere' })).toThrow(
    /source site "nowhere"/,
  );
  expect(() => backfillRequests(harness.config, { bucket: fromB })).toThrow(
    /has no enabled replication rule/,
  );

  const [started] = await startBackfills(harness.temporal, harness.config, {
    bucket: fromB,
    sourceSite: 'target',
    prefix: 'b/',
  });
  expect(started!.workflowId).toContain(`/hub/target:${fromB}/b/`);
  const status = await waitFor(
    'the backfill to end',
    async () => {
      const s = await backfillStatus(harness.temporal, started!.workflowId);
      return s.runStatus === 'RUNNING' ? undefined : s;
    },
    90_000,
  );
  // 12 versions and 2 delete markers under b/: the deleted replica copied again, the rest found there.
  expect(status.progress).toMatchObject({ phase: 'completed', submitted: 14, replicated: 1, failed: 0 });
  expect(status.progress!.alreadyReplicated + status.progress!.notReplicated).toBe(13);
  expect(await diff()).toEqual([]);
}, 180_000);

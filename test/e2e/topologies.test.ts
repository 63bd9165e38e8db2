/**
 * One-to-many and many-to-one on the real stack, with one worker and one populator:
 * - a bucket replicated to two destination sites (each its own status);
 * - two source buckets on different sites (the stack's two MinIO servers) replicated into one
 *   target bucket, each under its own prefix, each with its own status.
 * Each ends with a per-key comparison of the whole version histories.
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
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
const harness = new ReplicationHarness(stack, 'topo', [
  { site: 'east', bucket: fanOut.east, prefix: 'fan/' },
  { site: 'west', bucket: fanOut.west, prefix: 'fan/' },
  { site: 'hub', bucket: hub, prefix: 'a/' },
  { site: 'hub', bucket: hub, prefix: 'b/', from: { site: 'target', bucket: fromB } },
]);

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
  }
  return versions;
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
  // Each source has its own replication workflows and status.
  const a = await harness.waitForVersion('hub', 'a/key-3 é+%', fromA.at(-1)!);
  const b = await harness.waitForVersion('hub', 'b/key-3 é+%', fromBVersions.at(-1)!, {
    bucket: fromB,
    sourceSite: 'target',
  });
  expect([a.status, b.status]).toEqual(['COMPLETED', 'COMPLETED']);
}, 180_000);

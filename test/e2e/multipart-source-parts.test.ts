/**
 * A version uploaded in parts is copied in the same parts (activities/copy-source-parts.ts):
 * the replica keeps the source's ETag, which checks every byte before the upload is
 * completed; a copy cut off part-way resumes its upload; bytes damaged on the way to the
 * target are caught before any version is written, and the copy is made again in ranges.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import { ReplicationHarness } from '../support/replication-harness';
import { putInParts as putSourceInParts } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';

const MiB = 1024 * 1024;
const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const targetUrl = new URL(stack.sites.target.endpoint);
// The worker reaches the target through this proxy, so a test can cut or damage a copy.
const proxy = new TcpProxy(targetUrl.hostname, Number(targetUrl.port));
const destination = { site: 'target', bucket: uniqueBucket('parts-dst') };

let harness: ReplicationHarness;

beforeAll(async () => {
  await proxy.open();
  harness = new ReplicationHarness(
    stack,
    'source-parts',
    [destination],
    {
      // Ranges of 5 MiB when the source's parts cannot be used; the threshold stays far above
      // the test objects, so only their being uploaded in parts makes them multipart.
      partSizeBytes: 5 * MiB,
      partConcurrency: 1,
      maxAttempts: 50,
      initialRetryIntervalMs: 200,
      maxRetryIntervalMs: 1000,
    },
    (raw) => {
      raw.sites.target!.endpoint = `http://${proxy.address}`;
    },
  );
  await harness.start();
}, 120_000);
afterAll(() => harness.stop(), 60_000);

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

const putInParts = (key: string, body: Buffer, partSizes: number[]) =>
  putSourceInParts(source, harness.sourceBucket, key, body, partSizes);

async function replicaOf(key: string, versionId: string | undefined) {
  const got = await target.send(
    new GetObjectCommand({ Bucket: destination.bucket, Key: key, VersionId: versionId }),
  );
  return { etag: got.ETag, md5: md5(await got.Body!.transformToByteArray()), metadata: got.Metadata };
}

async function targetVersions(key: string) {
  const listed = await target.send(
    new ListObjectVersionsCommand({ Bucket: destination.bucket, Prefix: key }),
  );
  return (listed.Versions ?? []).filter((v) => v.Key === key);
}

async function openUploads(prefix: string) {
  const uploads = await target.send(
    new ListMultipartUploadsCommand({ Bucket: destination.bucket, Prefix: prefix }),
  );
  return uploads.Uploads ?? [];
}

test('parts of different sizes are copied as they are: the replica keeps the source ETag', async () => {
  const key = 'parts/uneven é+%.bin';
  const body = randomBytes(14 * MiB + 4321);
  const put = await putInParts(key, body, [5 * MiB, 7 * MiB, 2 * MiB + 4321]);
  expect(put.etag).toMatch(/-3"$/);

  const status = await harness.waitForVersion('target', key, put.versionId, { timeoutMs: 120_000 });
  expect(status.status).toBe('COMPLETED');
  expect(status.detail).toBeUndefined(); // no fallback to ranges
  const replica = await replicaOf(key, status.targetVersionId);
  expect(replica.etag).toBe(put.etag); // in ranges of 5 MiB it would have been "…-3" of other parts
  expect(replica.md5).toBe(md5(body));
  expect(replica.metadata?.['scal-version-id']).toBe(put.versionId);
  // Each part has the source's size (a ranged copy would have cut 5, 5, 4 MiB).
  const head = await target.send(
    new HeadObjectCommand({
      Bucket: destination.bucket,
      Key: key,
      VersionId: status.targetVersionId,
      PartNumber: 2,
    }),
  );
  expect(head.ContentLength).toBe(7 * MiB);
}, 180_000);

test('a copy in source parts cut off part-way resumes the same upload', async () => {
  const key = 'parts/resumable.bin';
  const body = randomBytes(40 * MiB);
  // Two parts and a bit of the third reach the target, then it becomes unreachable.
  const cut = proxy.cutAfterBytes(12 * MiB);
  const put = await putInParts(key, body, Array<number>(8).fill(5 * MiB));
  await cut;
  await new Promise((r) => setTimeout(r, 2000)); // a few attempts fail while it is down
  await proxy.open();

  const status = await harness.waitForVersion('target', key, put.versionId, { timeoutMs: 120_000 });
  expect(status.status).toBe('COMPLETED');
  expect(status.attempts).toBeGreaterThan(1);
  expect(status.detail).toMatch(/^resumed multipart upload \S+: reused 2 of 8 parts$/);
  const replica = await replicaOf(key, status.targetVersionId);
  expect(replica.etag).toBe(put.etag);
  expect(replica.md5).toBe(md5(body));
  expect(await targetVersions(key)).toHaveLength(1);
  expect(await openUploads('parts/resumable')).toHaveLength(0);
}, 180_000);

test('a byte damaged on the way to the target is caught before completion; the copy is made again in ranges', async () => {
  const key = 'parts/damaged.bin';
  const body = randomBytes(12 * MiB);
  // 3 MiB into what the worker sends the target: inside the first part's body.
  const damaged = proxy.corruptAfterBytes(3 * MiB);
  const put = await putInParts(key, body, [6 * MiB, 6 * MiB]);
  await damaged;

  const status = await harness.waitForVersion('target', key, put.versionId, { timeoutMs: 120_000 });
  expect(status.status).toBe('COMPLETED');
  expect(status.detail).toMatch(
    /^copied in ranges: the source's 2 parts could not be checked against its ETag \(the target's parts give ETag [0-9a-f]{32}-2, the source's is [0-9a-f]{32}-2\)$/,
  );
  const replica = await replicaOf(key, status.targetVersionId);
  expect(replica.md5).toBe(md5(body));
  expect(replica.etag).toMatch(/-3"$/); // 12 MiB in ranges of 5 MiB
  // The damaged upload was never completed: one version, and no upload left open.
  expect(await targetVersions(key)).toHaveLength(1);
  expect(await openUploads('parts/damaged')).toHaveLength(0);

  // For a while the bucket's other versions go straight to ranges (one copy each, not two).
  const next = randomBytes(12 * MiB);
  const nextPut = await putInParts('parts/after-damage.bin', next, [6 * MiB, 6 * MiB]);
  const nextStatus = await harness.waitForVersion('target', 'parts/after-damage.bin', nextPut.versionId, {
    timeoutMs: 120_000,
  });
  expect(nextStatus.status).toBe('COMPLETED');
  expect(nextStatus.detail).toBeUndefined();
  const nextReplica = await replicaOf('parts/after-damage.bin', nextStatus.targetVersionId);
  expect(nextReplica.md5).toBe(md5(next));
  expect(nextReplica.etag).toMatch(/-3"$/);
}, 180_000);

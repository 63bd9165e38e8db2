import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReplicationHarness } from '../support/replication-harness';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';

const MiB = 1024 * 1024;
const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const targetUrl = new URL(stack.sites.target.endpoint);
// The worker reaches the target site through this proxy, so the test can break a copy part-way.
const proxy = new TcpProxy(targetUrl.hostname, Number(targetUrl.port));
const destination = { site: 'target', bucket: uniqueBucket('resume-dst') };

let harness: ReplicationHarness;

beforeAll(async () => {
  await proxy.open();
  harness = new ReplicationHarness(
    stack,
    'resume',
    [destination],
    {
      partSizeBytes: 5 * MiB,
      multipartThresholdBytes: 6 * MiB,
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

test('a multipart copy cut off part-way resumes the same upload and completes it byte for byte', async () => {
  const key = 'big/resumable object';
  const body = randomBytes(40 * MiB); // 8 parts of 5 MiB
  // Two parts and a bit of the third reach the target, then it becomes unreachable.
  const cut = proxy.cutAfterBytes(12 * MiB);
  const put = await source.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: body }));
  await cut;
  await new Promise((r) => setTimeout(r, 2000)); // a few attempts fail while it is down
  await proxy.open();

  const status = await harness.waitForVersion('target', key, put.VersionId!, { timeoutMs: 120_000 });
  expect(status.status).toBe('COMPLETED');
  expect(status.attempts).toBeGreaterThan(1);
  // The retried attempt continued the upload the first one created, keeping the parts that had
  // reached the target (two got through the proxy), each checked against the source range.
  expect(status.detail).toMatch(/^resumed multipart upload \S+: reused 2 of 8 parts$/);

  const replica = await target.send(
    new GetObjectCommand({ Bucket: destination.bucket, Key: key, VersionId: status.targetVersionId }),
  );
  expect(md5(await replica.Body!.transformToByteArray())).toBe(md5(body));
  expect(replica.Metadata?.['scal-version-id']).toBe(put.VersionId);
  const uploads = await target.send(
    new ListMultipartUploadsCommand({ Bucket: destination.bucket, Prefix: 'big/' }),
  );
  expect(uploads.Uploads ?? []).toHaveLength(0);
}, 180_000);

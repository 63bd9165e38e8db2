import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReplicationHarness } from '../support/replication-harness';
import { headLatest, md5Of, putInParts, replicaHistory } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const MiB = 1024 * 1024;

const harness = new ReplicationHarness(
  stack,
  'objects',
  [
    { site: 'target', bucket: uniqueBucket('objects-dst-a') },
    { site: 'target-b', bucket: uniqueBucket('objects-dst-b'), prefix: 'both/' },
  ],
  { partSizeBytes: 5 * MiB, multipartThresholdBytes: 6 * MiB, partConcurrency: 2 },
);
const [siteA, siteB] = harness.destinations as [
  { site: string; bucket: string },
  { site: string; bucket: string },
];

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

async function putAndReplicate(
  key: string,
  body: Buffer | string,
  extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {},
) {
  const put = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: body, ...extra }),
  );
  const status = await harness.waitForVersion(siteA.site, key, put.VersionId!);
  return { put, status };
}

describe('object replication on the real stack', () => {
  test('a new object replicates with its metadata and tags, marked as a replica', async () => {
    const { put, status } = await putAndReplicate('docs/report.txt', 'quarterly numbers\n', {
      ContentType: 'text/plain; charset=utf-8',
      CacheControl: 'max-age=60',
      ContentDisposition: 'attachment; filename="report.txt"',
      ContentLanguage: 'en',
      Metadata: { owner: 'ops', 'review-state': 'draft' },
      Tagging: 'team=storage&tier=gold',
    });
    expect(status.status).toBe('COMPLETED');
    const replica = await target.send(
      new HeadObjectCommand({ Bucket: siteA.bucket, Key: 'docs/report.txt' }),
    );
    expect(replica.ContentType).toBe('text/plain; charset=utf-8');
    expect(replica.CacheControl).toBe('max-age=60');
    expect(replica.ContentDisposition).toBe('attachment; filename="report.txt"');
    expect(replica.ContentLanguage).toBe('en');
    expect(replica.Metadata).toMatchObject({
      owner: 'ops',
      'review-state': 'draft',
      'scal-replication-status': 'REPLICA',
      'scal-version-id': put.VersionId,
    });
    expect(replica.TagCount).toBe(2);
    expect(replica.VersionId).toBe(status.targetVersionId);
    expect(await md5Of(target, siteA.bucket, 'docs/report.txt')).toBe(
      await md5Of(source, harness.sourceBucket, 'docs/report.txt'),
    );

    // One version costs few history events: signal, one workflow task, a local-activity marker, the status.
    const history = await harness.temporal.workflow
      .getHandle(`crr/${siteA.site}/${harness.sourceBucket}/docs/report.txt`)
      .fetchHistory();
    expect(history.events?.length).toBeLessThanOrEqual(12);
    expect(history.events?.some((e) => e.markerRecordedEventAttributes)).toBe(true);
  });

  test('a 0-byte object replicates', async () => {
    const { status } = await putAndReplicate('empty', Buffer.alloc(0));
    expect(status.status).toBe('COMPLETED');
    expect((await headLatest(target, siteA.bucket, 'empty')).ContentLength).toBe(0);
  });

  test('an object above the multipart threshold is copied in parts and verified', async () => {
    const body = randomBytes(13 * MiB + 12345);
    const { status } = await putAndReplicate('big/blob.bin', body);
    expect(status.status).toBe('COMPLETED');
    const replica = await headLatest(target, siteA.bucket, 'big/blob.bin');
    expect(replica.ContentLength).toBe(body.length);
    expect(replica.ETag).toMatch(/-3"$/); // 5 MiB parts: 3 of them
    expect(await md5Of(target, siteA.bucket, 'big/blob.bin')).toBe(
      await md5Of(source, harness.sourceBucket, 'big/blob.bin'),
    );
  });

  test('a source object uploaded in parts (no MD5 ETag) is copied with one PUT, hashed on the way', async () => {
    const key = 'parts/assembled.bin';
    const body = randomBytes(6 * MiB); // the multipart threshold: one PUT
    const done = await putInParts(source, harness.sourceBucket, key, body, [5 * MiB, MiB]);
    expect(done.etag).toMatch(/-2"$/); // no Content-MD5 can be sent for this one
    const status = await harness.waitForVersion(siteA.site, key, done.versionId);
    expect(status.status).toBe('COMPLETED');
    const md5 = createHash('md5').update(body).digest('hex');
    const replica = await headLatest(target, siteA.bucket, key);
    expect(replica.ETag).toBe(`"${md5}"`); // a single PUT, whose ETag was checked against our hash
    expect(await md5Of(target, siteA.bucket, key)).toBe(md5);
  });

  test.each([
    ['spaces', 'a key with spaces.txt'],
    ['unicode', 'données/été/日本語-🚀.txt'],
    ['plus', 'a+b+c.txt'],
    ['percent', '100% sure %20 %2B.txt'],
    // S3 allows 1024-byte keys; MinIO caps each path segment at 255 bytes.
    [
      '1024 bytes',
      `long/${['k'.repeat(250), 'é'.repeat(100), 'k'.repeat(250), 'z'.repeat(250), 'y'.repeat(65)].join('/')}`,
    ],
  ])('an odd key (%s) replicates to the same key', async (_name, key) => {
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    if (_name === '1024 bytes') expect(Buffer.byteLength(key)).toBe(1024);
    const { put, status } = await putAndReplicate(key, `body of ${key}`);
    expect(status.status).toBe('COMPLETED');
    const replica = await headLatest(target, siteA.bucket, key);
    expect(replica.Metadata?.['scal-version-id']).toBe(put.VersionId);
    expect(replica.ContentLength).toBe(Buffer.byteLength(`body of ${key}`));
  });

  test('an object matching no rule of a destination is not replicated there', async () => {
    // Only keys under both/ go to site B: this one replicates to A and never to B.
    const { put } = await putAndReplicate('only-a.txt', 'a');
    const atB = await harness.temporal.workflow
      .getHandle(`crr/${siteB.site}/${harness.sourceBucket}/only-a.txt`)
      .describe()
      .then(
        () => 'found',
        () => 'absent',
      );
    expect(atB).toBe('absent');
    await expect(headLatest(target, siteB.bucket, 'only-a.txt')).rejects.toMatchObject({ name: 'NotFound' });
    expect((await headLatest(target, siteA.bucket, 'only-a.txt')).Metadata?.['scal-version-id']).toBe(
      put.VersionId,
    );
  });

  test('two destinations are replicated and tracked separately', async () => {
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'both/shared.txt', Body: 'twice' }),
    );
    const [a, b] = await Promise.all([
      harness.waitForVersion(siteA.site, 'both/shared.txt', put.VersionId!),
      harness.waitForVersion(siteB.site, 'both/shared.txt', put.VersionId!),
    ]);
    expect(a.status).toBe('COMPLETED');
    expect(b.status).toBe('COMPLETED');
    expect(a.targetVersionId).not.toBe(b.targetVersionId);
    for (const bucket of [siteA.bucket, siteB.bucket]) {
      const history = await replicaHistory(target, bucket, 'both/shared.txt');
      expect(history.map((h) => h.source)).toEqual([put.VersionId]);
    }
  });
});

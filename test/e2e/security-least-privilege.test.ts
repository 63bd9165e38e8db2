/**
 * The least-privilege policies of docs/SECURITY.md are exact (issue 13): they are read from
 * the document itself, installed on the stack's MinIO sites with `mc admin policy` for two
 * users (one per site), and the engine replicates with those users' keys only: puts with
 * metadata and tags, a resumable multipart copy, a tag change, a delete marker. The target's
 * user cannot delete a version. (`replication setup` runs with the sites' root keys: it is an
 * administrator's job.)
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { documentedPolicy, PolicyInstaller } from '../support/least-privilege';
import { ReplicationHarness } from '../support/replication-harness';
import { putInParts } from '../support/s3-helpers';
import { testSecret } from '../support/secure-stack';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const MiB = 1024 * 1024;
const policies = new PolicyInstaller(stack);
const users = {
  source: { accessKeyId: `crr-lp-src-${Date.now().toString(36)}`, secretAccessKey: testSecret('lpsrc') },
  target: { accessKeyId: `crr-lp-dst-${Date.now().toString(36)}`, secretAccessKey: testSecret('lpdst') },
};
const targetBucket = uniqueBucket('lp-dst');

const harness = new ReplicationHarness(
  stack,
  'least-privilege',
  [{ site: 'target', bucket: targetBucket }],
  { multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB, localActivityMaxBytes: MiB },
  (raw) => {
    // The engine runs with the least-privilege users; setup ran with the root keys.
    raw.sites.source!.profile = 'crr-lp-source';
    raw.sites.target!.profile = 'crr-lp-target';
  },
  { 'crr-lp-source': users.source, 'crr-lp-target': users.target },
);

beforeAll(async () => {
  // The buckets exist before the engine starts: setup (root keys) creates them in harness.start.
  await harness.start();
  const sourcePolicy = documentedPolicy('CrrReadSourceVersions', { 'SOURCE-BUCKET': harness.sourceBucket });
  const targetPolicy = documentedPolicy('CrrWriteReplicas', { 'TARGET-BUCKET': targetBucket });
  await policies.installUser('source', `crr-source-${harness.sourceBucket}`, sourcePolicy, users.source);
  await policies.installUser('target', `crr-target-${targetBucket}`, targetPolicy, users.target);
}, 240_000);

afterAll(async () => {
  await harness.stop();
  policies.cleanup();
}, 60_000);

describe('the documented least-privilege policies', () => {
  test('replication works with only them: puts, metadata, tags, multipart, tag change, delete marker', async () => {
    const small = await source.send(
      new PutObjectCommand({
        Bucket: harness.sourceBucket,
        Key: 'lp/small.txt',
        Body: 'least privilege',
        Metadata: { owner: 'alice' },
        Tagging: 'team=storage',
      }),
    );
    const large = await source.send(
      new PutObjectCommand({
        Bucket: harness.sourceBucket,
        Key: 'lp/large.bin',
        Body: Buffer.alloc(11 * MiB, 3),
      }),
    );
    // Uploaded in parts: copied in the same parts (GET ?partNumber=), keeping its ETag.
    const parts = await putInParts(source, harness.sourceBucket, 'lp/parts.bin', Buffer.alloc(6 * MiB, 4), [
      5 * MiB,
      MiB,
    ]);
    for (const [key, v] of [
      ['lp/small.txt', small.VersionId!],
      ['lp/large.bin', large.VersionId!],
      ['lp/parts.bin', parts.versionId],
    ] as const) {
      const status = await harness.waitForVersion('target', key, v, { timeoutMs: 120_000 });
      expect([key, status.status, status.reason, status.detail]).toEqual([
        key,
        'COMPLETED',
        undefined,
        undefined,
      ]);
    }
    const partsReplica = await target.send(
      new HeadObjectCommand({ Bucket: targetBucket, Key: 'lp/parts.bin' }),
    );
    expect(partsReplica.ETag).toBe(parts.etag);
    const replica = await target.send(new HeadObjectCommand({ Bucket: targetBucket, Key: 'lp/small.txt' }));
    expect(replica.Metadata?.owner).toBe('alice');
    expect(replica.Metadata?.['scal-version-id']).toBe(small.VersionId);

    await source.send(
      new PutObjectTaggingCommand({
        Bucket: harness.sourceBucket,
        Key: 'lp/small.txt',
        VersionId: small.VersionId,
        Tagging: { TagSet: [{ Key: 'team', Value: 'replication' }] },
      }),
    );
    const tagged = await harness.waitForVersion('target', 'lp/small.txt', small.VersionId!, {
      operation: 'metadata',
      timeoutMs: 90_000,
    });
    expect([tagged.status, tagged.reason]).toEqual(['COMPLETED', undefined]);
    const tags = await target.send(
      new GetObjectTaggingCommand({ Bucket: targetBucket, Key: 'lp/small.txt' }),
    );
    expect(tags.TagSet?.filter((t) => t.Key === 'team')).toEqual([{ Key: 'team', Value: 'replication' }]);

    const marker = await source.send(
      new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: 'lp/large.bin' }),
    );
    const deleted = await harness.waitForVersion('target', 'lp/large.bin', marker.VersionId!, {
      operation: 'delete-marker',
      timeoutMs: 90_000,
    });
    expect([deleted.status, deleted.reason]).toEqual(['COMPLETED', undefined]);
    await expect(
      target.send(new GetObjectCommand({ Bucket: targetBucket, Key: 'lp/large.bin' })),
    ).rejects.toThrow();
  }, 300_000);

  test("the target's user cannot delete a version, nor touch another bucket", async () => {
    const asTarget = new S3Client({
      endpoint: stack.sites.target.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: users.target,
    });
    const asSource = new S3Client({
      endpoint: stack.sites.source.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: users.source,
    });
    try {
      const put = await target.send(
        new PutObjectCommand({ Bucket: targetBucket, Key: 'lp/keep', Body: 'x' }),
      );
      await expect(
        asTarget.send(
          new DeleteObjectCommand({ Bucket: targetBucket, Key: 'lp/keep', VersionId: put.VersionId }),
        ),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
      await expect(
        asTarget.send(
          new PutObjectCommand({ Bucket: harness.destinations[0]!.bucket + '-other', Key: 'x', Body: 'x' }),
        ),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
      await expect(
        asSource.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'lp/write', Body: 'x' })),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
    } finally {
      asTarget.destroy();
      asSource.destroy();
    }
  });
});

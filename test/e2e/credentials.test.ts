import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { retryFailed } from '../../operations/failures';
import { DiagnosedS3Error, diagnoseS3Error } from '../../clients/s3-diagnosis';
import { errorCode } from '../../clients/s3-errors';
import { upsertProfile } from '../../config/credentials-file';
import { createSiteClients } from '../../clients/s3';
import { ReplicationHarness } from '../support/replication-harness';
import { headLatest } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const goodKeys = {
  accessKeyId: stack.sites.target.accessKeyId,
  secretAccessKey: stack.sites.target.secretAccessKey,
};
const wrongSecret = { accessKeyId: goodKeys.accessKeyId, secretAccessKey: 'definitely-not-the-secret' };
const unknownKey = { accessKeyId: 'NO-SUCH-ACCESS-KEY', secretAccessKey: 'whatever-secret' };

/** Sites on the target server whose profiles hold wrong keys: one per scenario. */
const SITES = {
  'wrong-secret': 'crr-wrong-secret',
  'unknown-key': 'crr-unknown-key',
  'fixed-client': 'crr-fixed-client',
  'fixed-replication': 'crr-fixed-replication',
} as const;

/** The destination bucket of the replication that is repaired by fixing the file. */
const repairBucket = uniqueBucket('cred-repair');

const harness = new ReplicationHarness(
  stack,
  'credentials',
  [{ site: 'target', bucket: uniqueBucket('cred-dst') }],
  { maxAttempts: 2 },
  (raw) => {
    for (const [site, profile] of Object.entries(SITES))
      raw.sites[site] = { endpoint: stack.sites.target.endpoint, profile };
    raw.replication[harness.sourceBucket]!.Rules.push({
      ID: 'to-fixed-replication',
      Priority: 99,
      Status: 'Enabled',
      Filter: { Prefix: 'repair/' },
      Destination: {
        Bucket: `arn:aws:s3:::${repairBucket}`,
        StorageClass: 'fixed-replication',
      },
      DeleteMarkerReplication: { Status: 'Disabled' },
    });
  },
  {
    [SITES['wrong-secret']]: wrongSecret,
    [SITES['unknown-key']]: unknownKey,
    [SITES['fixed-client']]: wrongSecret,
    [SITES['fixed-replication']]: wrongSecret,
  },
);
const bucket = harness.destinations[0]!.bucket;

beforeAll(async () => {
  await target.send(new CreateBucketCommand({ Bucket: repairBucket }));
  await target.send(
    new PutBucketVersioningCommand({ Bucket: repairBucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  await harness.start();
}, 120_000);
afterAll(() => harness.stop(), 60_000);

function siteClient(site: keyof typeof SITES): S3Client {
  return createSiteClients(harness.config).get(site)!;
}

async function failureOf(request: Promise<unknown>): Promise<unknown> {
  try {
    await request;
  } catch (err) {
    return err;
  }
  throw new Error('the request succeeded');
}

/** The same error as an S3 server without MinIO's error headers (AWS, Ceph) would give. */
function withoutResponseHeaders(err: unknown): unknown {
  const e = err as Error & { $metadata: unknown; $fault: unknown };
  return Object.assign(new Error(e.message), { name: e.name, $fault: e.$fault, $metadata: e.$metadata });
}

describe('credentials: real causes and files re-read without a restart', () => {
  let versionId: string;
  const key = 'probe/object';

  beforeAll(async () => {
    const put = await target.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe' }));
    versionId = put.VersionId!;
  });

  test.each([
    ['wrong-secret', 'SignatureDoesNotMatch'],
    ['unknown-key', 'InvalidAccessKeyId'],
  ] as const)('a bodyless HEAD 403 with a %s profile is diagnosed as %s', async (site, expected) => {
    const s3 = siteClient(site);
    const err = await failureOf(
      s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })),
    );
    // What the SDK makes of the HEAD answer: no body, so no code.
    expect(err).toMatchObject({ name: 'Unknown', $metadata: { httpStatusCode: 403 } });
    expect(errorCode(err)).toBe('AccessDenied');

    const where = { bucket, key, versionId };
    const diagnosed = await diagnoseS3Error(s3, where, err, { operation: 'HeadObject' });
    expect(diagnosed).toBeInstanceOf(DiagnosedS3Error);
    // MinIO names the cause in x-minio-error-code headers; other servers need the re-check.
    expect((diagnosed as DiagnosedS3Error).diagnosedBy).toMatch(/x-minio-error-code header|GetObject/);
    expect(errorCode(diagnosed)).toBe(expected);
    expect((diagnosed as Error).message).not.toMatch(/^(Unknown|UnknownError)?$/);

    // Without MinIO's error headers, as on AWS: the ranged GET re-check finds the same cause.
    const rechecked = await diagnoseS3Error(s3, where, withoutResponseHeaders(err), {
      operation: 'HeadObject',
    });
    expect(errorCode(rechecked)).toBe(expected);
    expect((rechecked as DiagnosedS3Error).diagnosedBy).toBe('GetObject bytes=0-0');

    // Also for a key that does not exist, and for the bucket alone (ListObjectVersions).
    const missing = await diagnoseS3Error(s3, { bucket, key: 'no/such/key' }, withoutResponseHeaders(err));
    expect(errorCode(missing)).toBe(expected);
    const bucketOnly = await diagnoseS3Error(s3, { bucket }, withoutResponseHeaders(err));
    expect(errorCode(bucketOnly)).toBe(expected);
    s3.destroy();
  });

  test('a bodyless HEAD error that the re-check cannot explain is kept as it is', async () => {
    // HEAD with a failed precondition answers 412 without a body; the ranged GET succeeds.
    const err = await failureOf(
      target.send(new HeadObjectCommand({ Bucket: bucket, Key: key, IfMatch: '"0123"' })),
    );
    expect(err).toMatchObject({ $metadata: { httpStatusCode: 412 } });
    const original = withoutResponseHeaders(err);
    expect(await diagnoseS3Error(target, { bucket, key }, original, { operation: 'HeadObject' })).toBe(
      original,
    );
  });

  test('a site client whose credentials file is fixed works again within seconds, without being recreated', async () => {
    const s3 = siteClient('fixed-client');
    const list = () => s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1 }));
    expect(errorCode(await failureOf(list()))).toBe('SignatureDoesNotMatch');
    expect(errorCode(await failureOf(list()))).toBe('SignatureDoesNotMatch');

    upsertProfile(process.env.AWS_SHARED_CREDENTIALS_FILE!, SITES['fixed-client'], goodKeys);
    const fixedAt = Date.now();
    let answer: unknown;
    while (Date.now() - fixedAt < 5_000) {
      answer = await list().catch((err: unknown) => err);
      if (!(answer instanceof Error)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(answer).not.toBeInstanceOf(Error);
    expect(Date.now() - fixedAt).toBeLessThan(3_000);
    s3.destroy();
  });

  test('a replication that failed on wrong credentials succeeds on retry once the file is fixed', async () => {
    const objectKey = 'repair/object';
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: objectKey, Body: 'repaired' }),
    );
    const failed = await harness.waitForVersion('fixed-replication', objectKey, put.VersionId!);
    expect(failed.status).toBe('FAILED');
    expect(failed.reason).toMatch(/AccessDenied|SignatureDoesNotMatch/);

    upsertProfile(process.env.AWS_SHARED_CREDENTIALS_FILE!, SITES['fixed-replication'], goodKeys);
    await new Promise((r) => setTimeout(r, 1_100)); // one stat interval
    expect(
      await retryFailed(harness.temporal, { site: 'fixed-replication', bucket: harness.sourceBucket }),
    ).toBe(1);
    const retried = await harness.waitForVersion('fixed-replication', objectKey, put.VersionId!, {
      until: (v) => v.status === 'COMPLETED',
    });
    expect(retried.status).toBe('COMPLETED');
    const replica = await headLatest(target, repairBucket, objectKey);
    expect(replica.Metadata?.['scal-replication-status']).toBe('REPLICA');
  });
});

import {
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { ReplicationHarness } from '../support/replication-harness';
import { headLatest, replicaHistory, waitFor } from '../support/s3-helpers';
import { journalRecordOf, redeliver } from '../support/journal-records';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);

// Site A replicates delete markers, site B does not.
const harness = new ReplicationHarness(stack, 'ordering', [
  { site: 'target', bucket: uniqueBucket('ordering-dst-a'), deleteMarkers: true },
  { site: 'target-b', bucket: uniqueBucket('ordering-dst-b'), deleteMarkers: false },
]);
const [siteA, siteB] = harness.destinations as [
  { site: string; bucket: string },
  { site: string; bucket: string },
];

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

describe('ordering, idempotency, metadata and deletes', () => {
  test('100 overwrites of one key: target versions follow source order and the latest matches', async () => {
    const key = 'storm/hot-key';
    const versions: string[] = [];
    for (let i = 0; i < 100; i++) {
      const put = await source.send(
        new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: `version ${i}` }),
      );
      versions.push(put.VersionId!);
    }
    const last = await harness.waitForVersion(siteA.site, key, versions[99]!, { timeoutMs: 120_000 });
    expect(last.status).toBe('COMPLETED');
    const history = await replicaHistory(target, siteA.bucket, key);
    expect(history.map((h) => h.source)).toEqual(versions);
    expect(history.at(-1)!.isLatest).toBe(true);
    const latest = await headLatest(target, siteA.bucket, key);
    expect(latest.Metadata?.['scal-version-id']).toBe(versions[99]);
  }, 180_000);

  test('a duplicate journal delivery yields one replica version, even after a newer version', async () => {
    const key = 'dup/object';
    const v1 = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'one' }),
    );
    await harness.waitForVersion(siteA.site, key, v1.VersionId!);
    const record = await journalRecordOf(stack, harness.sourceBucket, key, v1.VersionId!);
    const v2 = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'two' }),
    );
    await harness.waitForVersion(siteA.site, key, v2.VersionId!);

    await redeliver(stack, record); // a late duplicate of the older version
    const again = await harness.waitForVersion(siteA.site, key, v1.VersionId!, {
      until: (v) => v.detail === 'already replicated' && v.status === 'COMPLETED',
    });
    expect(again.detail).toBe('already replicated');
    const history = await replicaHistory(target, siteA.bucket, key);
    expect(history.map((h) => h.source)).toEqual([v1.VersionId, v2.VersionId]);
    expect((await headLatest(target, siteA.bucket, key)).Metadata?.['scal-version-id']).toBe(v2.VersionId);
  });

  test('a tag update replicates without copying data', async () => {
    const key = 'tags/object';
    const put = await source.send(
      new PutObjectCommand({
        Bucket: harness.sourceBucket,
        Key: key,
        Body: 'tagged',
        Tagging: 'stage=draft',
      }),
    );
    await harness.waitForVersion(siteA.site, key, put.VersionId!);
    await source.send(
      new PutObjectTaggingCommand({
        Bucket: harness.sourceBucket,
        Key: key,
        VersionId: put.VersionId,
        Tagging: {
          TagSet: [
            { Key: 'stage', Value: 'final' },
            { Key: 'owner', Value: 'ops' },
          ],
        },
      }),
    );
    const status = await harness.waitForVersion(siteA.site, key, put.VersionId!, { operation: 'metadata' });
    expect(status.status).toBe('COMPLETED');
    const tags = await target.send(new GetObjectTaggingCommand({ Bucket: siteA.bucket, Key: key }));
    expect(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      stage: 'final',
      owner: 'ops',
    });
    const versions = await target.send(new ListObjectVersionsCommand({ Bucket: siteA.bucket, Prefix: key }));
    expect(versions.Versions?.filter((v) => v.Key === key)).toHaveLength(1);
  });

  test('delete markers replicate where the rule enables it, and only there', async () => {
    const key = 'deletes/object';
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'doomed' }),
    );
    await Promise.all([
      harness.waitForVersion(siteA.site, key, put.VersionId!),
      harness.waitForVersion(siteB.site, key, put.VersionId!),
    ]);
    const deleted = await source.send(new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: key }));
    expect(deleted.DeleteMarker).toBe(true);
    const marker = await harness.waitForVersion(siteA.site, key, deleted.VersionId!, {
      operation: 'delete-marker',
    });
    expect(marker.status).toBe('COMPLETED');
    const listing = await target.send(new ListObjectVersionsCommand({ Bucket: siteA.bucket, Prefix: key }));
    expect(listing.DeleteMarkers?.find((m) => m.Key === key)?.IsLatest).toBe(true);
    // Site B keeps serving the object: its rule has DeleteMarkerReplication Disabled.
    await waitFor('site B to stay unchanged', async () => {
      const head = await headLatest(target, siteB.bucket, key);
      return head.Metadata?.['scal-version-id'] === put.VersionId ? head : undefined;
    });
    const atB = await harness.temporal.workflow
      .getHandle(`crr/${siteB.site}/${harness.sourceBucket}/${key}`)
      .describe();
    expect(atB.status.name).toBe('COMPLETED');
  });

  test('deleting a specific version is not replicated', async () => {
    const key = 'deletes/version';
    const v1 = await source.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'a' }));
    await harness.waitForVersion(siteA.site, key, v1.VersionId!);
    await source.send(
      new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: key, VersionId: v1.VersionId }),
    );
    const v2 = await source.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'b' }));
    await harness.waitForVersion(siteA.site, key, v2.VersionId!);
    const history = await replicaHistory(target, siteA.bucket, key);
    expect(history.map((h) => h.source)).toEqual([v1.VersionId, v2.VersionId]);
  });
});

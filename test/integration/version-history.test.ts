import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { keyHistory } from '../../activities/version-history';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const s3 = s3ClientFor(stack.sites.target);
const bucket = uniqueBucket('history');

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
});

async function historyOf(key: string): Promise<string[]> {
  const entries: string[] = [];
  for await (const e of keyHistory(s3, bucket, key))
    entries.push(e.isDeleteMarker ? `DM:${e.versionId}` : e.versionId);
  return entries;
}

test('a key with more versions than a page, between keys that share its prefix, is listed whole and alone', async () => {
  const written: string[] = [];
  for (let i = 0; i < 120; i++) {
    written.push(
      (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: `${i}` }))).VersionId!,
    );
  }
  for (const key of ['k0', 'k1', 'k/x'])
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
  // Newest first, through MinIO's opaque paging markers.
  expect(await historyOf('k')).toEqual([...written].reverse());
  expect(await historyOf('k1')).toHaveLength(1);
  expect(await historyOf('absent')).toEqual([]);
});

test('versions and delete markers come in their true interleaving, whatever their timestamps', async () => {
  const ids: string[] = [];
  const put = async () =>
    ids.push((await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'm', Body: 'x' }))).VersionId!);
  const del = async () =>
    ids.push(`DM:${(await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'm' }))).VersionId!}`);
  // Back to back, so that neighbours often share a LastModified millisecond.
  await put();
  await del();
  await put();
  await del();
  await put();
  expect(await historyOf('m')).toEqual([...ids].reverse());
});

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { keyHasNoHistory, keyHistory } from '../../activities/version-history';
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

test('a HEAD says a key has no history only when the listing would find nothing of it', async () => {
  const put = async (Key: string) =>
    (await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }))).VersionId!;
  // About 1,000 bytes (MinIO keeps each path segment a file name: at most 255 bytes).
  const odd = `h/é +%/${Array.from({ length: 5 }, (_, i) => `${i}`.repeat(198)).join('/')}`;
  // A key that is only the prefix of others, and one that was never written.
  await put('h/p1');
  await put('h/p/child');
  // Versions, the latest a delete marker, only a delete marker, every version deleted.
  await put('h/live');
  await put('h/under-marker');
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'h/under-marker' }));
  // Its version deleted from under its marker (MinIO makes no marker for a key without versions).
  const below = await put('h/only-marker');
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'h/only-marker' }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'h/only-marker', VersionId: below }));
  const gone = await put('h/gone');
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'h/gone', VersionId: gone }));
  await put(odd);
  const keys = ['h/p', 'h/never', 'h/live', 'h/under-marker', 'h/only-marker', 'h/gone', odd];
  const answers: Record<string, { head: boolean; listed: number }> = {};
  for (const key of keys)
    answers[key] = { head: await keyHasNoHistory(s3, bucket, key), listed: (await historyOf(key)).length };
  expect(answers).toEqual({
    'h/p': { head: true, listed: 0 },
    'h/never': { head: true, listed: 0 },
    'h/live': { head: false, listed: 1 },
    'h/under-marker': { head: false, listed: 2 },
    'h/only-marker': { head: false, listed: 1 },
    'h/gone': { head: true, listed: 0 },
    [odd]: { head: false, listed: 1 },
  });
});

test('a refused HEAD does not claim a key has no history', async () => {
  const site = stack.sites.target;
  const wrong = new S3Client({
    endpoint: site.endpoint,
    region: site.region,
    forcePathStyle: true,
    credentials: { accessKeyId: site.accessKeyId, secretAccessKey: `${site.secretAccessKey}-wrong` },
  });
  expect(await keyHasNoHistory(wrong, bucket, 'h/never')).toBe(false);
});

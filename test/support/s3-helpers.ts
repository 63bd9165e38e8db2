import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { readReplicaMarker } from '../../activities/replica-metadata';
import { keyHistory } from '../../activities/version-history';

/** Creates `bucket` with versioning enabled, as every replicated bucket must be. */
export async function createVersionedBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
}

export async function md5Of(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  const hash = createHash('md5');
  for await (const chunk of object.Body as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Writes `body` as a multipart upload of parts of the given sizes (in order, adding up to the
 * body); returns the new version and its ETag (`<md5 of the parts' md5s>-<parts>`).
 */
export async function putInParts(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  partSizes: number[],
): Promise<{ versionId: string; etag: string }> {
  if (partSizes.reduce((a, b) => a + b, 0) !== body.length) {
    throw new Error(`part sizes add up to ${partSizes.reduce((a, b) => a + b, 0)}, not ${body.length}`);
  }
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts = [];
  let offset = 0;
  for (const [i, size] of partSizes.entries()) {
    const Body = body.subarray(offset, offset + size);
    const part = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body }),
    );
    parts.push({ PartNumber: i + 1, ETag: part.ETag });
    offset += size;
  }
  const done = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
  return { versionId: done.VersionId!, etag: done.ETag! };
}

export async function headLatest(s3: S3Client, bucket: string, key: string) {
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

/** A key's versions, oldest first, with the source version each replica names. */
export async function replicaHistory(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<Array<{ versionId: string; source?: string; isLatest: boolean }>> {
  const versions: Array<{ VersionId?: string; IsLatest?: boolean; LastModified?: Date }> = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, KeyMarker, VersionIdMarker }),
    );
    versions.push(...(page.Versions ?? []).filter((v) => v.Key === key));
    if (!page.IsTruncated) break;
    KeyMarker = page.NextKeyMarker;
    VersionIdMarker = page.NextVersionIdMarker;
  }
  // Listings are newest first.
  const oldestFirst = versions.reverse();
  const out = [];
  for (const v of oldestFirst) {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: v.VersionId }));
    out.push({
      versionId: v.VersionId!,
      source: head.Metadata?.['scal-version-id'],
      isLatest: v.IsLatest ?? false,
    });
  }
  return out;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A key's whole history, oldest first, delete markers in their true place (read from the
 * raw listing order): `v:<source version>` for a replica, `v:?` for a version without a
 * marker, `DM` for a delete marker.
 */
export async function orderedHistory(s3: S3Client, bucket: string, key: string): Promise<string[]> {
  const entries: string[] = [];
  for await (const entry of keyHistory(s3, bucket, key)) {
    if (entry.isDeleteMarker) {
      entries.push('DM');
      continue;
    }
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: entry.versionId }),
    );
    let source = head.Metadata?.['scal-version-id'];
    if (!source) {
      const tags = await s3.send(
        new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: entry.versionId }),
      );
      source = readReplicaMarker(
        undefined,
        (tags.TagSet ?? []).map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' })),
      )?.sourceVersionId;
    }
    entries.push(`v:${source ?? '?'}`);
  }
  return entries.reverse();
}

/** The source's history in the same notation: `v:<version id>` or `DM`. */
export async function sourceHistory(s3: S3Client, bucket: string, key: string): Promise<string[]> {
  const entries: string[] = [];
  for await (const entry of keyHistory(s3, bucket, key))
    entries.push(entry.isDeleteMarker ? 'DM' : `v:${entry.versionId}`);
  return entries.reverse();
}

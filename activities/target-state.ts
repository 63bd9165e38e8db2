import { HeadObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { readReplicaMarker } from './replica-metadata';

/** What the target currently serves for a key: the facts idempotency and ordering rest on. */
export type TargetLatest =
  | { kind: 'absent' }
  | { kind: 'delete-marker'; versionId?: string }
  | { kind: 'version'; versionId?: string; sourceVersionId?: string; sequence?: string };

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export async function headTargetLatest(s3: S3Client, bucket: string, key: string): Promise<TargetLatest> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const marker = readReplicaMarker(head.Metadata);
    return {
      kind: 'version',
      versionId: head.VersionId,
      sourceVersionId: marker.sourceVersionId,
      sequence: marker.sequence,
    };
  } catch (err) {
    if (isNotFound(err)) return { kind: 'absent' };
    throw err;
  }
}

/** Distinguishes "no object" from "latest is a delete marker", which HEAD cannot. */
export async function listTargetLatest(s3: S3Client, bucket: string, key: string): Promise<TargetLatest> {
  const listing = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, MaxKeys: 50 }));
  const marker = listing.DeleteMarkers?.find((m) => m.Key === key && m.IsLatest);
  if (marker) return { kind: 'delete-marker', versionId: marker.VersionId };
  const latest = listing.Versions?.find((v) => v.Key === key && v.IsLatest);
  if (!latest) return { kind: 'absent' };
  return headTargetLatest(s3, bucket, key);
}

/** Finds the target version that replicates a given source version (newest first, bounded). */
export async function findReplicaOf(
  s3: S3Client,
  bucket: string,
  key: string,
  sourceVersionId: string,
  maxVersions = 100,
): Promise<string | undefined> {
  const listing = await s3.send(
    new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, MaxKeys: maxVersions }),
  );
  for (const version of listing.Versions ?? []) {
    if (version.Key !== key) continue;
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: version.VersionId }),
    );
    if (readReplicaMarker(head.Metadata).sourceVersionId === sourceVersionId) return version.VersionId;
  }
  return undefined;
}

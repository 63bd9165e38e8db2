import { ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';

/** A listing position: the next page starts after this key and version. */
export interface ListingMarker {
  keyMarker: string;
  versionIdMarker: string;
}

/** One listed entry (a version or a delete marker), as ListObjectVersions gives it. */
export interface ListedEntry {
  key: string;
  versionId: string;
  isDeleteMarker: boolean;
  size: number;
  etag?: string;
  lastModified: Date;
}

export interface ListedPage {
  /** Keys in listing order, each key's entries newest first. */
  entries: ListedEntry[];
  next?: ListingMarker;
}

/** One page of ListObjectVersions under the prefix, versions and delete markers merged. */
export async function listVersionsPage(
  source: S3Client,
  where: { bucket: string; prefix: string },
  marker: ListingMarker | undefined,
  maxKeys: number,
  abortSignal?: AbortSignal,
): Promise<ListedPage> {
  const page = await source.send(
    new ListObjectVersionsCommand({
      Bucket: where.bucket,
      ...(where.prefix ? { Prefix: where.prefix } : {}),
      MaxKeys: maxKeys,
      ...(marker ? { KeyMarker: marker.keyMarker, VersionIdMarker: marker.versionIdMarker } : {}),
    }),
    { abortSignal },
  );
  const entries: Array<ListedEntry & { order: number }> = [];
  let order = 0;
  for (const v of page.Versions ?? []) {
    if (v.Key === undefined || v.VersionId === undefined) continue;
    entries.push({
      key: v.Key,
      versionId: v.VersionId,
      isDeleteMarker: false,
      size: v.Size ?? 0,
      ...(v.ETag ? { etag: v.ETag.replace(/"/g, '') } : {}),
      lastModified: v.LastModified ?? new Date(0),
      order: order++,
    });
  }
  for (const d of page.DeleteMarkers ?? []) {
    if (d.Key === undefined || d.VersionId === undefined) continue;
    entries.push({
      key: d.Key,
      versionId: d.VersionId,
      isDeleteMarker: true,
      size: 0,
      lastModified: d.LastModified ?? new Date(0),
      order: order++,
    });
  }
  // S3 lists versions and delete markers apart: merge them back per key, newest first. The
  // per-key workflow places each change by the source's own order, so ties cost nothing.
  entries.sort(
    (a, b) =>
      compareKeys(a.key, b.key) || b.lastModified.getTime() - a.lastModified.getTime() || a.order - b.order,
  );
  const next =
    page.IsTruncated && page.NextKeyMarker !== undefined
      ? { keyMarker: page.NextKeyMarker, versionIdMarker: page.NextVersionIdMarker ?? '' }
      : undefined;
  return { entries: entries.map(({ order: _order, ...e }) => e), ...(next ? { next } : {}) };
}

/** S3 lists keys in UTF-8 binary order. */
export function compareKeys(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

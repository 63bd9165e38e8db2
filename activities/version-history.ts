import { Readable } from 'node:stream';
import {
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { withDiagnosis } from '../clients/s3-diagnosis';
import { errorHeader, statusCode } from '../clients/s3-errors';
import { readReplicaMarker, type ReplicaMarker } from './replica-metadata';
import { bareEtag } from '../shared/s3-names';
import { readVersionTags } from './source-version';

/** One entry of a key's version history, as ListObjectVersions reports it. */
export interface VersionEntry {
  versionId: string;
  isDeleteMarker: boolean;
  isLatest: boolean;
  lastModified?: Date;
  size?: number;
  etag?: string;
}

type ElementKind = 'Version' | 'DeleteMarker';

/**
 * The SDK parses <Version> and <DeleteMarker> elements into two arrays and so loses how they
 * interleave, which is exactly what ordering and delete-marker placement rest on (two entries
 * may share a LastModified millisecond). This reads the order of the elements from the raw
 * response body, then gives the body back to the SDK's parser untouched.
 */
function captureElementOrder(command: ListObjectVersionsCommand): () => ElementKind[] | undefined {
  let order: ElementKind[] | undefined;
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as { statusCode?: number; body?: unknown };
      if (response.statusCode === 200 && response.body instanceof Readable) {
        const chunks: Buffer[] = [];
        for await (const chunk of response.body) chunks.push(Buffer.from(chunk as Uint8Array));
        const xml = Buffer.concat(chunks);
        order = [...xml.toString('utf8').matchAll(/<(Version|DeleteMarker)>/g)].map(
          (m) => m[1] as ElementKind,
        );
        response.body = Readable.from([xml]);
      }
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'crrVersionElementOrder' },
  );
  return () => order;
}

interface Listed {
  Key?: string;
  VersionId?: string;
  IsLatest?: boolean;
  LastModified?: Date;
  Size?: number;
  ETag?: string;
}

/** Versions and delete markers of one page, in the server's order (newest first per key). */
export function mergeInServerOrder(
  page: Pick<ListObjectVersionsCommandOutput, 'Versions' | 'DeleteMarkers'>,
  order: ElementKind[] | undefined,
): Array<Listed & { isDeleteMarker: boolean }> {
  const versions = (page.Versions ?? []).map((v) => ({ ...v, isDeleteMarker: false }));
  const markers = (page.DeleteMarkers ?? []).map((m) => ({ ...m, isDeleteMarker: true }));
  if (order && order.length === versions.length + markers.length) {
    let v = 0;
    let m = 0;
    return order.map((kind) => (kind === 'Version' ? versions[v++]! : markers[m++]!));
  }
  // Without the raw order (a proxy that re-encodes the body, say): key ascending, then newest first.
  return [...versions, ...markers].sort(
    (a, b) =>
      (a.Key ?? '').localeCompare(b.Key ?? '') ||
      (b.LastModified?.getTime() ?? 0) - (a.LastModified?.getTime() ?? 0),
  );
}

/**
 * Every version and delete marker of exactly `key`, newest first, page by page: the first
 * page is small because most decisions only need the newest entries; the walk stops at the
 * first entry of another key (keys sharing the prefix sort after it).
 */
export async function* keyHistory(
  s3: S3Client,
  bucket: string,
  key: string,
  firstPageSize = 50,
): AsyncGenerator<VersionEntry> {
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  let MaxKeys = firstPageSize;
  for (;;) {
    const command = new ListObjectVersionsCommand({
      Bucket: bucket,
      Prefix: key,
      KeyMarker,
      VersionIdMarker,
      MaxKeys,
    });
    const order = captureElementOrder(command);
    const page = await s3.send(command);
    for (const entry of mergeInServerOrder(page, order())) {
      if (entry.Key !== key) return;
      if (!entry.VersionId) continue;
      yield {
        versionId: entry.VersionId,
        isDeleteMarker: entry.isDeleteMarker,
        isLatest: entry.IsLatest ?? false,
        lastModified: entry.LastModified,
        size: entry.Size,
        etag: bareEtag(entry.ETag),
      };
    }
    // The markers are opaque (MinIO adds its own suffix to NextKeyMarker): page on until
    // another key shows up or the listing ends.
    if (!page.IsTruncated || !page.NextKeyMarker) return;
    KeyMarker = page.NextKeyMarker;
    VersionIdMarker = page.NextVersionIdMarker;
    MaxKeys = 1000;
  }
}

/**
 * Whether `key` has neither a version nor a delete marker in `bucket`: a HEAD of its latest
 * answers 404 without `x-amz-delete-marker`. The HEAD reads the key's own metadata, where a
 * versions listing on MinIO walks the key's whole folder: its cost grows with the number of
 * keys beside it (`npm run bench:activity`: about 1.2–1.5 CPU-ms per listing with 2,000 keys in
 * the folder, 2.5–3.5 with 8,000). False on any other answer (the key exists, its latest is
 * a delete marker, the HEAD was refused): the listing then tells. A bucket that does not
 * exist answers 404 as well (a HEAD has no body to say which): the write that follows then
 * fails with NoSuchBucket, as the listing would have.
 */
export async function keyHasNoHistory(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return false;
  } catch (err) {
    return statusCode(err) === 404 && errorHeader(err, 'x-amz-delete-marker') !== 'true';
  }
}

/** Drops the oldest entries (first inserted) of a Map or Set grown past `max`. */
function dropOldestPast(entries: Map<string, unknown> | Set<string>, max: number): void {
  while (entries.size > max) {
    const oldest = entries.keys().next().value;
    if (oldest === undefined) return;
    entries.delete(oldest);
  }
}

/** How many versions' markers (and keys with history) a worker remembers per process. */
export const MARKER_CACHE_ENTRIES = 10_000;

/**
 * Replica markers by version. Versions are immutable, so a marker read once is valid for
 * ever: the cache saves a HEAD per version per decision, and what the worker writes itself
 * goes in directly. Bounded, oldest entries evicted first.
 *
 * It also remembers which keys had a version on a site (a marker was read or written for
 * one): their history is listed at once, without first asking whether there is any. Only a
 * saved HEAD rests on it, never a skipped listing, so a key whose versions were deleted since
 * costs nothing but that HEAD.
 *
 * Why 10,000 entries: an entry costs about 500 bytes of live heap (`node --expose-gc --import
 * tsx bench/marker-cache-memory.ts`: 5.7 MB for 10,000, 49.6 MB for 100,000, the bound before),
 * and V8 lets a worker's old generation grow to several times what is live before it collects
 * (docs/BENCHMARKS.md, "CPU per object"), so a full cache of 100,000 weighed on the worker's
 * RSS for as long as it ran. What the cache saves is read mostly right after it is written: a
 * decision reads the newest few versions of a key's target history, which this worker has
 * just written or read. An entry that has gone costs one HEAD.
 */
export class MarkerCache {
  private readonly entries = new Map<string, { marker: ReplicaMarker | null; writtenAt?: number }>();
  private readonly keysWithHistory = new Set<string>();

  constructor(private readonly maxEntries = MARKER_CACHE_ENTRIES) {}

  private static id(site: string, bucket: string, key: string, versionId: string): string {
    return `${site}\u0000${bucket}\u0000${key}\u0000${versionId}`;
  }

  private static keyId(site: string, bucket: string, key: string): string {
    return `${site}\u0000${bucket}\u0000${key}`;
  }

  /** Whether a version of the key was seen on the site (its history is worth listing at once). */
  hadHistory(site: string, bucket: string, key: string): boolean {
    return this.keysWithHistory.has(MarkerCache.keyId(site, bucket, key));
  }

  noteHistory(site: string, bucket: string, key: string): void {
    const id = MarkerCache.keyId(site, bucket, key);
    this.keysWithHistory.delete(id);
    this.keysWithHistory.add(id);
    dropOldestPast(this.keysWithHistory, this.maxEntries);
  }

  get(site: string, bucket: string, key: string, versionId: string): ReplicaMarker | null | undefined {
    return this.entries.get(MarkerCache.id(site, bucket, key, versionId))?.marker;
  }

  /** For a local restore copy (two-way): when the version it copies was written (epoch ms). */
  writtenAt(site: string, bucket: string, key: string, versionId: string): number | undefined {
    return this.entries.get(MarkerCache.id(site, bucket, key, versionId))?.writtenAt;
  }

  set(
    site: string,
    bucket: string,
    key: string,
    versionId: string,
    marker: ReplicaMarker | null,
    writtenAt?: number,
  ): void {
    const id = MarkerCache.id(site, bucket, key, versionId);
    this.noteHistory(site, bucket, key);
    this.entries.delete(id);
    this.entries.set(id, writtenAt === undefined ? { marker } : { marker, writtenAt });
    dropOldestPast(this.entries, this.maxEntries);
  }
}

/**
 * User-metadata field of a local restore copy (two-way: a site's own latest copied back on
 * top after a losing change was inserted below): when the version it copies was written, so
 * last writer wins judges the copy by that time, not by its own LastModified.
 */
export const WRITTEN_AT_FIELD = 'scal-crr-written-at';

/** Reads a version's replica marker: user metadata first, then its tags (when metadata had no room). */
export async function readMarkerOf(
  s3: S3Client,
  cache: MarkerCache,
  site: string,
  bucket: string,
  key: string,
  versionId: string,
): Promise<ReplicaMarker | null> {
  const cached = cache.get(site, bucket, key, versionId);
  if (cached !== undefined) return cached;
  // HEAD errors have no body: a 403 is re-checked so that the reason names the real cause.
  const head = await withDiagnosis(
    s3,
    { bucket, key, versionId },
    () => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })),
    { operation: 'HeadObject' },
  );
  let marker = readReplicaMarker(head.Metadata);
  if (!marker) {
    marker = readReplicaMarker(undefined, await readVersionTags(s3, bucket, key, versionId));
  }
  const written = Date.parse(head.Metadata?.[WRITTEN_AT_FIELD] ?? '');
  cache.set(site, bucket, key, versionId, marker ?? null, Number.isFinite(written) ? written : undefined);
  return marker ?? null;
}

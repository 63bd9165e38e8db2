import { Readable } from 'node:stream';
import {
  HeadObjectCommand,
  GetObjectTaggingCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { HttpResponse } from '@smithy/types';

/** One entry of a key's history: an object version or a delete marker. */
export interface ListedVersion {
  key: string;
  kind: 'version' | 'delete-marker';
  versionId: string;
  isLatest: boolean;
  etag?: string;
  size?: number;
  lastModified?: Date;
}

async function bodyBytes(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/**
 * One page of ListObjectVersions with the true interleaving of versions and delete markers.
 * The SDK's output splits `<Version>` and `<DeleteMarker>` elements into two arrays, which
 * loses their relative order; a middleware after the deserializer reads the raw XML body
 * (and puts it back), and the order of the elements there rebuilds the listing.
 */
export async function listVersionsPage(
  s3: S3Client,
  input: { Bucket: string; Prefix?: string; KeyMarker?: string; VersionIdMarker?: string; MaxKeys?: number },
): Promise<{ entries: ListedVersion[]; page: ListObjectVersionsCommandOutput }> {
  const command = new ListObjectVersionsCommand(input);
  let order: Array<'version' | 'delete-marker'> | undefined;
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as HttpResponse;
      if (response?.statusCode === 200 && response.body) {
        const raw = await bodyBytes(response.body);
        order = [...raw.toString('utf8').matchAll(/<(Version|DeleteMarker)>/g)].map((m) =>
          m[1] === 'Version' ? 'version' : 'delete-marker',
        );
        response.body = Readable.from([raw]);
      }
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'crrRawVersionOrder' },
  );
  const page = await s3.send(command);
  const versions = page.Versions ?? [];
  const markers = page.DeleteMarkers ?? [];
  if (!order || order.length !== versions.length + markers.length) {
    throw new Error(
      `ListObjectVersions of ${input.Bucket}: raw XML order has ${order?.length ?? 'no'} entries, the SDK parsed ${versions.length} versions and ${markers.length} delete markers`,
    );
  }
  let v = 0;
  let d = 0;
  const entries = order.map((kind): ListedVersion => {
    if (kind === 'version') {
      const x = versions[v++]!;
      return {
        key: x.Key!,
        kind,
        versionId: x.VersionId ?? 'null',
        isLatest: x.IsLatest ?? false,
        etag: x.ETag?.replace(/"/g, ''),
        size: x.Size,
        lastModified: x.LastModified,
      };
    }
    const x = markers[d++]!;
    return {
      key: x.Key!,
      kind,
      versionId: x.VersionId ?? 'null',
      isLatest: x.IsLatest ?? false,
      lastModified: x.LastModified,
    };
  });
  return { entries, page };
}

/**
 * Every key's history in a bucket (or under a prefix), oldest first, versions and delete
 * markers interleaved in their true order.
 */
export async function listHistories(
  s3: S3Client,
  bucket: string,
  prefix?: string,
): Promise<Map<string, ListedVersion[]>> {
  const byKey = new Map<string, ListedVersion[]>();
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (;;) {
    const { entries, page } = await listVersionsPage(s3, {
      Bucket: bucket,
      Prefix: prefix,
      KeyMarker,
      VersionIdMarker,
      MaxKeys: 1000,
    });
    for (const e of entries) {
      const list = byKey.get(e.key) ?? [];
      list.push(e);
      byKey.set(e.key, list);
    }
    if (!page.IsTruncated) break;
    KeyMarker = page.NextKeyMarker;
    VersionIdMarker = page.NextVersionIdMarker;
  }
  // Listings are newest first within a key.
  for (const list of byKey.values()) list.reverse();
  return byKey;
}

/** One key's history, oldest first (the listing is filtered on the exact key). */
export async function listKeyHistory(s3: S3Client, bucket: string, key: string): Promise<ListedVersion[]> {
  return (await listHistories(s3, bucket, key)).get(key) ?? [];
}

/** What a target version says about the source version it replicates. */
export interface ReplicaIdentity {
  /** The source version id, or undefined when the version carries no replica marker. */
  sourceVersionId?: string;
  /** The journal sequence of the source version, when the marker carries it. */
  sequence?: string;
  /** Where the marker was found. */
  markerIn?: 'metadata' | 'tag';
  /** Marked "late": inserted above newer versions by a retry, then covered by a copy of the newer one. */
  late?: boolean;
  userMetadata: Record<string, string>;
  etag?: string;
  size?: number;
}

/**
 * Reads the replica marker of one target version: user metadata `scal-version-id` (the
 * sequence in `scal-source-sequence`, or first in `scal-crr: <sequence>:<site>[:late]`), or,
 * when the user metadata had no room for it, the object tag `scal-crr` whose value ends with
 * `:<source version id>` (`REPLICA:<sequence>:<site>:<flags>:<source version id>`).
 */
export async function replicaIdentity(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId: string,
): Promise<ReplicaIdentity> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  const metadata = head.Metadata ?? {};
  const base = {
    userMetadata: metadata,
    etag: head.ETag?.replace(/"/g, ''),
    size: head.ContentLength,
  };
  if (metadata['scal-version-id']) {
    const compact = metadata['scal-crr']?.split(':');
    return {
      ...base,
      sourceVersionId: metadata['scal-version-id'],
      sequence:
        metadata['scal-source-sequence'] ?? (compact && /^\d+$/.test(compact[0]!) ? compact[0] : undefined),
      late: compact?.includes('late') ?? false,
      markerIn: 'metadata',
    };
  }
  if ((head.TagCount ?? 1) > 0) {
    const tags = await s3.send(
      new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
    );
    const tag = tags.TagSet?.find((t) => t.Key === 'scal-crr');
    if (tag?.Value) return { ...base, ...parseMarkerTag(tag.Value), markerIn: 'tag' };
  }
  return base;
}

/** `REPLICA:<sequence>:<site>:<flags>:<source version id>`, or anything ending with `:<source version id>`. */
function parseMarkerTag(value: string): { sourceVersionId: string; sequence?: string; late: boolean } {
  const parts = value.split(':');
  if (parts[0] === 'REPLICA' && parts.length >= 5) {
    return {
      sourceVersionId: parts.slice(4).join(':'),
      sequence: /^\d+$/.test(parts[1]!) ? parts[1] : undefined,
      late: parts[3]!.split(',').includes('late'),
    };
  }
  return { sourceVersionId: parts.at(-1)!, late: false };
}

import { z } from 'zod';
import type { JournalEntry, JournalOperation } from '../../shared/journal-entry';
import { EtagSchema, keyProblem, MAX_VERSION_ID_LENGTH, ObjectSizeSchema, VersionIdSchema } from './limits';
import { bareEtag, NULL_VERSION_ID } from '../../shared/s3-names';
import { isReplicaStatus, REPLICA_STATUS_FIELD } from '../../shared/replica-marker';

/** Object metadata as Backbeat's metadata log and Zenko's MongoDB store keep it. */
export const ObjectMetadataSchema = z
  .object({
    'content-length': ObjectSizeSchema.optional(),
    'content-md5': EtagSchema.optional(),
    'content-type': z.string().optional(),
    'last-modified': z.string().optional(),
    key: z.string().optional(),
    versionId: VersionIdSchema.optional(),
    isDeleteMarker: z.boolean().optional(),
    tags: z.record(z.string(), z.string()).optional(),
    replicationInfo: z
      .object({
        status: z.string().default(''),
        backends: z.array(z.object({ site: z.string() }).passthrough()).default([]),
        content: z.array(z.string()).default([]),
        destination: z.string().optional(),
        storageClass: z.string().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();

export type ObjectMetadata = z.infer<typeof ObjectMetadataSchema>;

const VERSION_SEPARATOR = '\u0000';

/** `<object key>\0<version id>` is a versioned key; without the separator it is the master key. */
export function splitMetadataKey(metadataKey: string): { key: string; versionId?: string } {
  const at = metadataKey.indexOf(VERSION_SEPARATOR);
  return at < 0
    ? { key: metadataKey }
    : { key: metadataKey.slice(0, at), versionId: metadataKey.slice(at + 1) };
}

/** A journal sequence from an event time, for journals without one: nanoseconds since 1970. */
export function eventTimeNs(iso: string): string {
  return (BigInt(new Date(iso).getTime()) * 1_000_000n).toString();
}

const isTime = (value: string | undefined): value is string =>
  value !== undefined && !Number.isNaN(new Date(value).getTime());

/** Longest metadata key (`<key>\0<version id>`) the decoders look at. */
export const MAX_METADATA_KEY_LENGTH = 4096;

/**
 * Maps stored object metadata to a journal entry; `skipped` (and no entry) when the entry
 * must be skipped; `error` (with the field) when it cannot describe an S3 object version.
 */
export function entryFromObjectMetadata(args: {
  bucket: string;
  metadataKey: string;
  metadata: ObjectMetadata;
  deleted: boolean;
  format: JournalEntry['format'];
  fallbackTime?: string;
  sequence?: string;
}): { entry?: JournalEntry; error?: string; field?: string; skipped?: string } {
  const { metadata } = args;
  const fromKey = splitMetadataKey(args.metadataKey);
  const key = metadata.key ?? fromKey.key;
  const versionId = metadata.versionId ?? fromKey.versionId;
  // Master keys mirror the latest version; only non-versioned objects replicate from them.
  if (fromKey.versionId === undefined && metadata.versionId !== undefined && !args.deleted)
    return { skipped: 'master key of a versioned object' };
  const badKey = keyProblem(key);
  if (badKey) return { error: `object key ${badKey}`, field: 'key' };
  if (versionId !== undefined && versionId.length > MAX_VERSION_ID_LENGTH)
    return { error: `versionId must be at most ${MAX_VERSION_ID_LENGTH} characters`, field: 'versionId' };
  const eventTime = metadata['last-modified'] ?? args.fallbackTime;
  if (!isTime(eventTime))
    return { error: 'object metadata has no valid last-modified time', field: 'last-modified' };
  const info = metadata.replicationInfo;
  const content = (info?.content ?? []).filter(
    (c): c is 'DATA' | 'METADATA' => c === 'DATA' || c === 'METADATA',
  );
  let operation: JournalOperation = 'put';
  if (args.deleted) operation = 'delete-version';
  else if (metadata.isDeleteMarker) operation = 'delete-marker';
  else if (info && content.length > 0 && !content.includes('DATA')) operation = 'metadata';
  const userMetadata = Object.fromEntries(
    Object.entries(metadata)
      .filter(([name, value]) => name.toLowerCase().startsWith('x-amz-meta-') && typeof value === 'string')
      .map(([name, value]) => [name.slice('x-amz-meta-'.length).toLowerCase(), value as string]),
  );
  // A tag or metadata change leaves the version's last-modified time as it was: the change's
  // own time is the journal entry's. Sequenced by the version's time, every change of its
  // tags would look like a redelivery of the first; timed by it, a two-way tag conflict
  // would be settled on the versions' ages instead of the changes'.
  const changedAt = operation === 'metadata' && isTime(args.fallbackTime) ? args.fallbackTime : eventTime;
  const sites = info
    ? info.backends.length > 0
      ? info.backends.map((b) => b.site)
      : (info.storageClass?.split(',') ?? [])
    : [];
  return {
    entry: {
      bucket: args.bucket,
      key,
      versionId: versionId ?? NULL_VERSION_ID,
      operation,
      size: operation === 'put' ? metadata['content-length'] : 0,
      etag: bareEtag(metadata['content-md5']),
      eventTime: new Date(changedAt).toISOString(),
      sequence: args.sequence ?? eventTimeNs(changedAt),
      contentType: metadata['content-type'],
      userMetadata: Object.keys(userMetadata).length > 0 ? userMetadata : undefined,
      tags: metadata.tags,
      isReplica: isReplicaStatus(info?.status) || isReplicaStatus(userMetadata[REPLICA_STATUS_FIELD]),
      replication: info
        ? {
            status: info.status,
            sites,
            content,
            destination: info.destination,
            storageClass: info.storageClass,
          }
        : undefined,
      format: args.format,
    },
  };
}

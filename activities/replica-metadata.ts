/**
 * The replica marker: what a target version says about the source version it replicates.
 * The populator uses it to avoid replication loops (as Backbeat does for targets that cannot
 * store a system replication status); the activities use the source version id and journal
 * sequence to recognise a version already on the target, whatever its position in the
 * target's history.
 *
 * It lives in user metadata when there is room (S3 and MinIO refuse more than 2 KiB of user
 * metadata, names included), else in one object tag, so that every object the source
 * accepted can be replicated:
 * - metadata: `scal-replication-status: REPLICA` (Backbeat's field), `scal-version-id: <source
 *   version id>` and `scal-crr: <sequence>:<source site>[:late]`, 149 bytes with a MinIO
 *   version id and a 20-digit sequence (the 2 KiB limit counts `x-amz-meta-` and the name);
 * - tag `scal-crr`: `REPLICA:<sequence>:<source site>:<flags>:<source version id>`, with
 *   `scal-replication-status: REPLICA` also in metadata when those 41 bytes fit.
 * `late` marks a version inserted above newer ones by a retry (see docs/DESIGN.md).
 */
import { COPY_STAMP_FIELD } from './tags-sync';
import {
  isReplicaStatus,
  LEGACY_SEQUENCE_FIELD,
  LEGACY_SITE_FIELD,
  MARKER_TAG,
  REPLICA_FIELD,
  REPLICA_STATUS_FIELD,
  REPLICA_STATUS_VALUE,
  SOURCE_VERSION_FIELD,
} from '../shared/replica-marker';

export { compareSequences, readReplicaMarker, type ReplicaMarker, type Tag } from '../shared/replica-marker';
import { readReplicaMarker, type ReplicaMarker, type Tag } from '../shared/replica-marker';
/** S3's (and MinIO's) limit on user metadata, counted as MinIO does: header names and values. */
export const USER_METADATA_LIMIT = 2048;
export const MAX_TAGS = 10;
const MAX_TAG_VALUE = 256;
const META_PREFIX = 'x-amz-meta-';

/** Bytes of user metadata as MinIO counts them against the 2 KiB limit. */
export function userMetadataSize(metadata: Record<string, string> | undefined): number {
  let size = 0;
  for (const [name, value] of Object.entries(metadata ?? {})) {
    size += Buffer.byteLength(META_PREFIX + name, 'utf8') + Buffer.byteLength(value, 'utf8');
  }
  return size;
}

function markerFields(marker: ReplicaMarker): Record<string, string> {
  return {
    [REPLICA_STATUS_FIELD]: REPLICA_STATUS_VALUE,
    [SOURCE_VERSION_FIELD]: marker.sourceVersionId,
    [REPLICA_FIELD]: `${marker.sequence}:${marker.sourceSite}${marker.late ? ':late' : ''}`,
  };
}

export function markerTag(marker: ReplicaMarker): Tag {
  return {
    Key: MARKER_TAG,
    Value: `${REPLICA_STATUS_VALUE}:${marker.sequence}:${marker.sourceSite}:${marker.late ? 'late' : ''}:${marker.sourceVersionId}`,
  };
}

/** The source's metadata without any marker field (a replica's marker is never copied on). */
function withoutMarker(metadata: Record<string, string> | undefined): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata ?? {})) {
    if (name === SOURCE_VERSION_FIELD || name === REPLICA_FIELD || name === REPLICA_STATUS_FIELD) continue;
    if (name === LEGACY_SEQUENCE_FIELD || name === LEGACY_SITE_FIELD || name === COPY_STAMP_FIELD) continue;
    own[name] = value;
  }
  return own;
}

export type MarkedReplica =
  | { ok: true; metadata: Record<string, string>; tags: Tag[]; markerIn: 'metadata' | 'tags' }
  | { ok: false; reason: string };

/** Where the marker goes for a version with this user metadata and these tags. */
export function markReplica(
  userMetadata: Record<string, string> | undefined,
  sourceTags: Tag[],
  marker: ReplicaMarker,
): MarkedReplica {
  const own = withoutMarker(userMetadata);
  const inMetadata = { ...own, ...markerFields(marker) };
  if (userMetadataSize(inMetadata) <= USER_METADATA_LIMIT) {
    return { ok: true, metadata: inMetadata, tags: sourceTags, markerIn: 'metadata' };
  }
  const tag = markerTag(marker);
  if (sourceTags.length >= MAX_TAGS) {
    return {
      ok: false,
      reason: `no room for the replica marker: ${userMetadataSize(own)} bytes of user metadata (limit ${USER_METADATA_LIMIT}) and ${sourceTags.length} tags (limit ${MAX_TAGS})`,
    };
  }
  if (tag.Value.length > MAX_TAG_VALUE) {
    return { ok: false, reason: `replica marker tag would be ${tag.Value.length} characters (limit 256)` };
  }
  const status = { ...own, [REPLICA_STATUS_FIELD]: REPLICA_STATUS_VALUE };
  const metadata = userMetadataSize(status) <= USER_METADATA_LIMIT ? status : own;
  return { ok: true, metadata, tags: [...sourceTags, tag], markerIn: 'tags' };
}

/** True when a version says it is a replica (metadata status or marker tag): never replicate it again. */
export function isReplica(metadata: Record<string, string> | undefined, tags?: Tag[]): boolean {
  if (isReplicaStatus(metadata?.[REPLICA_STATUS_FIELD])) return true;
  return readReplicaMarker(metadata, tags) !== undefined;
}

/**
 * The names of the replica marker (activities/replica-metadata.ts writes and reads it; the
 * populator and the CLI recognise replicas by it) and the order of journal sequences.
 */

/** Backbeat's user-metadata field; `REPLICA` on every replica, so no site replicates it again. */
export const REPLICA_STATUS_FIELD = 'scal-replication-status';
export const REPLICA_STATUS_VALUE = 'REPLICA';
/** User-metadata field with the source version id. */
export const SOURCE_VERSION_FIELD = 'scal-version-id';
/** User-metadata field `<sequence>:<source site>[:late]`. */
export const REPLICA_FIELD = 'scal-crr';
/** Object tag holding the whole marker when the metadata has no room for it. */
export const MARKER_TAG = 'scal-crr';

/** True for a replication status (metadata field or S3's header) that marks a replica. */
export function isReplicaStatus(value: string | undefined): boolean {
  return value?.toUpperCase() === REPLICA_STATUS_VALUE;
}

/** Compares journal sequences (decimal strings of arbitrary size). */
export function compareSequences(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

// Written by earlier releases; still read.
export const LEGACY_SEQUENCE_FIELD = 'scal-source-sequence';
export const LEGACY_SITE_FIELD = 'scal-source-site';

export interface ReplicaMarker {
  sourceVersionId: string;
  sequence: string;
  sourceSite: string;
  /** Inserted above newer versions by a retry, then covered by a copy of the newer one. */
  late?: boolean;
}

export interface Tag {
  Key: string;
  Value: string;
}

function parseTagMarker(value: string): ReplicaMarker | undefined {
  const parts = value.split(':');
  if (parts.length < 5 || parts[0] !== REPLICA_STATUS_VALUE) return undefined;
  const [, sequence, sourceSite, flags] = parts as [string, string, string, string];
  const sourceVersionId = parts.slice(4).join(':');
  if (!/^\d+$/.test(sequence) || !sourceVersionId) return undefined;
  return {
    sourceVersionId,
    sequence,
    sourceSite,
    ...(flags.split(',').includes('late') ? { late: true } : {}),
  };
}

/**
 * Reads the marker of a target version from its user metadata (as HEAD returns it, names
 * lower-cased) or, failing that, from its tags. `undefined`: not written by this engine.
 */
export function readReplicaMarker(
  metadata: Record<string, string> | undefined,
  tags?: Tag[],
): ReplicaMarker | undefined {
  const sourceVersionId = metadata?.[SOURCE_VERSION_FIELD];
  const compact = metadata?.[REPLICA_FIELD];
  if (sourceVersionId && compact) {
    const [sequence, sourceSite = '', flag] = compact.split(':');
    if (sequence && /^\d+$/.test(sequence)) {
      return { sourceVersionId, sequence, sourceSite, ...(flag === 'late' ? { late: true } : {}) };
    }
  }
  const legacySequence = metadata?.[LEGACY_SEQUENCE_FIELD];
  if (sourceVersionId && legacySequence && /^\d+$/.test(legacySequence)) {
    return { sourceVersionId, sequence: legacySequence, sourceSite: metadata?.[LEGACY_SITE_FIELD] ?? '' };
  }
  const tag = tags?.find((t) => t.Key === MARKER_TAG);
  return tag ? parseTagMarker(tag.Value) : undefined;
}

/**
 * User metadata that marks a target object as a replica, as Backbeat does for targets
 * that cannot store a system replication status. The populator uses the marker to avoid
 * replication loops; the activities use the source version and sequence for idempotency
 * and to keep the newest version the latest one on the target.
 */
export const REPLICA_STATUS_FIELD = 'scal-replication-status';
export const REPLICA_STATUS_VALUE = 'REPLICA';
export const SOURCE_VERSION_FIELD = 'scal-version-id';
export const SOURCE_SEQUENCE_FIELD = 'scal-source-sequence';
export const SOURCE_SITE_FIELD = 'scal-source-site';

export interface ReplicaMarker {
  sourceVersionId: string;
  sequence: string;
  sourceSite: string;
}

export function replicaMetadata(
  userMetadata: Record<string, string> | undefined,
  marker: ReplicaMarker,
): Record<string, string> {
  return {
    ...userMetadata,
    [REPLICA_STATUS_FIELD]: REPLICA_STATUS_VALUE,
    [SOURCE_VERSION_FIELD]: marker.sourceVersionId,
    [SOURCE_SEQUENCE_FIELD]: marker.sequence,
    [SOURCE_SITE_FIELD]: marker.sourceSite,
  };
}

/** Reads the marker back from a HEAD response's metadata (S3 lower-cases the names). */
export function readReplicaMarker(metadata: Record<string, string> | undefined): Partial<ReplicaMarker> {
  if (!metadata) return {};
  return {
    sourceVersionId: metadata[SOURCE_VERSION_FIELD],
    sequence: metadata[SOURCE_SEQUENCE_FIELD],
    sourceSite: metadata[SOURCE_SITE_FIELD],
  };
}

/** Compares journal sequences (decimal strings of arbitrary size). */
export function compareSequences(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

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

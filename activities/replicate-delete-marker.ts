import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { applyChange } from './apply-change';
import type { PendingChange } from './placement';
import type { ReplicationContext } from './replication-context';

/**
 * Creates a delete marker on the target (a DELETE without version id), as S3 does for a
 * replicated delete marker. Idempotent against the key's whole history on both sites: the
 * marker is recognised by its position (placement.ts), so a re-executed or redelivered
 * delete never adds a second marker, and one older than a version already on the target is
 * not put above it. A delete marker that comes back from a two-way peer is recognised the
 * same way and does not bounce.
 */
export function replicateDeleteMarker(
  ctx: ReplicationContext,
  task: ReplicationTask,
  pending: PendingChange[] = [],
): Promise<ReplicationOutcome> {
  return applyChange(ctx, task, pending);
}

import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { taskIdentity } from '../shared/replication-task';
import { replicationFailure, subjectOf } from './errors';
import type { ReplicationContext } from './replication-context';
import { placeDeleteMarkerOnTarget } from './target-state';

/**
 * Creates a delete marker on the target (a DELETE without version id), as S3 does for a
 * replicated delete marker. Idempotent against the key's whole target history: the marker
 * is recognised by its position (placement.ts), so a re-executed or redelivered delete never
 * adds a second marker, and one that is older than a version already on the target is not
 * put above it. A delete marker that is itself a replica's echo (two-way replication) is
 * recognised the same way and does not bounce.
 */
export async function replicateDeleteMarker(
  ctx: ReplicationContext,
  task: ReplicationTask,
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const target = ctx.targetClient(task.target.site);
  const outcome = (detail: string | undefined, targetVersionId?: string): ReplicationOutcome => ({
    identity: taskIdentity(task),
    targetVersionId,
    bytes: 0,
    attempts: Context.current().info.attempt,
    detail,
  });
  try {
    const placement = await placeDeleteMarkerOnTarget(ctx, task);
    if (placement.kind === 'found') return outcome('already replicated', placement.entry.versionId);
    if (placement.kind === 'late') return outcome(`not replicated: superseded (${placement.why})`);
    const deleted = await target.send(
      new DeleteObjectCommand({ Bucket: task.target.bucket, Key: task.entry.key }),
    );
    return outcome(
      placement.sourceListed ? undefined : 'the source no longer lists this delete marker',
      deleted.VersionId,
    );
  } catch (err) {
    throw replicationFailure('replicating the delete marker', subject, err);
  }
}

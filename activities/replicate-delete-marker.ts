import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { replicationFailure, subjectOf } from './errors';
import { compareSequences } from './replica-metadata';
import type { ReplicationContext } from './replication-context';
import { listTargetLatest } from './target-state';

/**
 * Creates a delete marker on the target (a DELETE without version id), as S3 does for a
 * replicated delete marker. A latest that is already a delete marker makes this a no-op,
 * which also stops a delete marker from bouncing between two sites that replicate both ways.
 */
export async function replicateDeleteMarker(
  ctx: ReplicationContext,
  task: ReplicationTask,
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const target = ctx.targetClient(task.target.site);
  const attempts = Context.current().info.attempt;
  try {
    const latest = await listTargetLatest(target, task.target.bucket, task.entry.key);
    if (latest.kind === 'delete-marker') {
      return {
        targetVersionId: latest.versionId,
        bytes: 0,
        attempts,
        detail: 'target latest is already a delete marker',
      };
    }
    if (
      latest.kind === 'version' &&
      latest.sequence &&
      compareSequences(latest.sequence, task.entry.sequence) > 0
    ) {
      return {
        bytes: 0,
        attempts,
        detail: 'superseded: a newer source version is already the target latest',
      };
    }
    const deleted = await target.send(
      new DeleteObjectCommand({ Bucket: task.target.bucket, Key: task.entry.key }),
    );
    return { targetVersionId: deleted.VersionId, bytes: 0, attempts };
  } catch (err) {
    throw replicationFailure('replicating the delete marker', subject, err);
  }
}

import {
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
  DeleteObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { describeSubject, replicationFailure, subjectOf } from './errors';
import type { ReplicationContext } from './replication-context';
import { findReplicaOf, headTargetLatest } from './target-state';

/**
 * Replicates a metadata-only change (tags) of a source version onto its replica, without
 * copying data. The source's current tags are read rather than trusted from the journal,
 * so a late or duplicated event still converges on the source's state.
 */
export async function replicateObjectTags(
  ctx: ReplicationContext,
  task: ReplicationTask,
  knownTargetVersionId: string | undefined,
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const target = ctx.targetClient(task.target.site);
  const { key } = task.entry;
  const versionId = task.entry.versionId === 'null' ? undefined : task.entry.versionId;
  try {
    const tags = await ctx.source.send(
      new GetObjectTaggingCommand({ Bucket: task.entry.bucket, Key: key, VersionId: versionId }),
    );
    let replicaVersionId = knownTargetVersionId;
    if (!replicaVersionId) {
      const latest = await headTargetLatest(target, task.target.bucket, key);
      replicaVersionId =
        latest.kind === 'version' && latest.sourceVersionId === task.entry.versionId
          ? latest.versionId
          : await findReplicaOf(target, task.target.bucket, key, task.entry.versionId);
    }
    if (!replicaVersionId) {
      throw ApplicationFailure.create({
        message: `no replica of ${describeSubject(subject)} on the target yet: its data must replicate first`,
        type: 'TransientReplicaMissing',
      });
    }
    const TagSet = tags.TagSet ?? [];
    if (TagSet.length === 0) {
      await target.send(
        new DeleteObjectTaggingCommand({ Bucket: task.target.bucket, Key: key, VersionId: replicaVersionId }),
      );
    } else {
      await target.send(
        new PutObjectTaggingCommand({
          Bucket: task.target.bucket,
          Key: key,
          VersionId: replicaVersionId,
          Tagging: { TagSet },
        }),
      );
    }
    return {
      targetVersionId: replicaVersionId,
      bytes: 0,
      attempts: Context.current().info.attempt,
      detail: `${TagSet.length} tags`,
    };
  } catch (err) {
    throw replicationFailure('replicating tags', subject, err);
  }
}

import {
  DeleteObjectTaggingCommand,
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { taskIdentity } from '../shared/replication-task';
import { replicationFailure, subjectOf } from './errors';
import { userTags, type Tag } from './replica-metadata';
import { MARKER_TAG } from '../shared/replica-marker';
import type { ReplicationContext } from './replication-context';
import { isGone } from '../clients/s3-errors';
import { readSourceTags } from './source-version';
import { replicasOf } from './target-state';

/**
 * Replicates a metadata-only change (tags) of a source version onto its replicas, without
 * copying data. The source's current tags are read rather than trusted from the journal,
 * so a late or duplicated event still converges on the source's state, and applying it
 * twice changes nothing. A replica whose marker lives in a tag keeps that tag.
 */
export async function replicateObjectTags(
  ctx: ReplicationContext,
  task: ReplicationTask,
  knownTargetVersionId: string | undefined,
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const target = ctx.targetClient(task.target.site);
  const { key } = task.entry;
  const { bucket } = task.target;
  const outcome = (detail: string, targetVersionId?: string): ReplicationOutcome => ({
    identity: taskIdentity(task),
    targetVersionId,
    bytes: 0,
    attempts: Context.current().info.attempt,
    detail,
  });
  try {
    let sourceTags: Tag[];
    try {
      sourceTags = await readSourceTags(ctx.source, task.entry);
    } catch (err) {
      if (isGone(err)) return outcome('not replicated: the source version no longer exists');
      throw err;
    }
    const replicas = await replicasOf(ctx, task, knownTargetVersionId);
    // The replica may be missing for good (its put was not replicated): then the tags arrive
    // with the data if that put is ever retried, since a copy reads the source's tags.
    if (replicas.length === 0) return outcome('not replicated: the target has no replica of this version');
    const wanted = userTags(sourceTags);
    for (const VersionId of replicas) {
      const current = await target.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId }));
      const markerTag = (current.TagSet ?? []).find((t) => t.Key === MARKER_TAG);
      const TagSet = markerTag ? [...wanted, { Key: MARKER_TAG, Value: markerTag.Value ?? '' }] : wanted;
      if (TagSet.length === 0) {
        await target.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId }));
      } else {
        await target.send(
          new PutObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId, Tagging: { TagSet } }),
        );
      }
    }
    return outcome(`${wanted.length} tags`, replicas[0]);
  } catch (err) {
    throw replicationFailure('replicating tags', subject, err);
  }
}

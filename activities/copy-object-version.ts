import type { Readable } from 'node:stream';
import { CopyObjectCommand, DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { taskIdentity } from '../shared/replication-task';
import { copyMultipart, copySinglePut, type CopiedData } from './copy-data';
import { describeSubject, replicationFailure, subjectOf } from './errors';
import { bareEtag } from './hashing-stream';
import type { TargetEntry } from './placement';
import { isReplica, markReplica, type ReplicaMarker } from './replica-metadata';
import type { ReplicationContext } from './replication-context';
import { isGone, openSourceVersion, tagsMatch } from './source-version';
import { placePutOnTarget } from './target-state';

/** An outcome that changed nothing on the target, with why. */
function unchanged(task: ReplicationTask, detail: string, targetVersionId?: string): ReplicationOutcome {
  return {
    identity: taskIdentity(task),
    targetVersionId,
    bytes: 0,
    attempts: Context.current().info.attempt,
    detail,
  };
}

/**
 * Puts back on top what was the target's latest before a late version was inserted: a copy
 * of that version (server-side, marker included) or a new delete marker.
 */
async function restoreLatest(
  ctx: ReplicationContext,
  task: ReplicationTask,
  target: S3Client,
  latest: TargetEntry,
): Promise<string | undefined> {
  const { bucket } = task.target;
  const { key } = task.entry;
  if (latest.isDeleteMarker) {
    const deleted = await target.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    return deleted.VersionId;
  }
  const copied = await target.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: key,
      CopySource: `${bucket}/${encodeURIComponent(key)}?versionId=${encodeURIComponent(latest.versionId)}`,
      MetadataDirective: 'COPY',
      TaggingDirective: 'COPY',
    }),
  );
  if (copied.VersionId && latest.marker !== undefined) {
    ctx.markers.set(task.target.site, bucket, key, copied.VersionId, latest.marker);
  }
  return copied.VersionId;
}

/**
 * Copies one source version to the target by streaming (never through Temporal), with its
 * metadata and tags, marked as a replica. Idempotent against the key's whole history on the
 * target: a version already there (however deep, whatever the run that wrote it) is
 * recognised and nothing is written; a version older than what the target holds is not
 * put above it, except on an operator's retry, which inserts it and restores the newer
 * state on top.
 */
export async function copyObjectVersion(
  ctx: ReplicationContext,
  task: ReplicationTask,
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const target = ctx.targetClient(task.target.site);
  const { entry } = task;

  let placed;
  try {
    placed = await placePutOnTarget(ctx, task);
  } catch (err) {
    throw replicationFailure('reading the target versions', subject, err);
  }
  const { placement } = placed;
  if (placement.kind === 'found') return unchanged(task, 'already replicated', placement.entry.versionId);
  if (placement.kind === 'found-needs-restore') {
    if (placed.restoreFrom) {
      try {
        await restoreLatest(ctx, task, target, placed.restoreFrom);
      } catch (err) {
        throw replicationFailure('restoring the newer version as latest', subject, err);
      }
    }
    return unchanged(
      task,
      'already replicated (the newer version was restored as latest)',
      placement.entry.versionId,
    );
  }
  if (placed.sourceGone) return unchanged(task, 'not replicated: the source version no longer exists');
  const late = placement.kind === 'late';
  if (late && !task.retry) {
    ctx.logger.warn(
      { bucket: entry.bucket, key: entry.key, versionId: entry.versionId, site: task.target.site },
      `late version not replicated: ${placement.why}`,
    );
    return unchanged(task, `not replicated: superseded (${placement.why})`);
  }

  let opened: { body: Readable; source: Awaited<ReturnType<typeof openSourceVersion>>['source'] };
  try {
    opened = await openSourceVersion(ctx.source, entry);
  } catch (err) {
    if (isGone(err)) return unchanged(task, 'not replicated: the source version no longer exists');
    throw replicationFailure('reading the source version', subject, err);
  }
  const { body, source } = opened;
  const skip = (detail: string) => {
    body.destroy();
    return unchanged(task, detail);
  };
  if (isReplica(source.userMetadata, source.tags)) {
    return skip('not replicated: the source version is itself a replica (no replication loops)');
  }
  if (entry.versionId === 'null' && entry.etag && bareEtag(source.etag) !== entry.etag) {
    // An unversioned or suspended bucket keeps one "null" version: this write was overwritten
    // on the source and its own journal entry will bring the newer bytes.
    return skip('not replicated: superseded (the source overwrote its null version since)');
  }
  if (task.target.requiredTags && !tagsMatch(source.tags, task.target.requiredTags)) {
    return skip(`not replicated: the version's tags do not match rule ${task.target.ruleId}`);
  }
  const marker: ReplicaMarker = {
    sourceVersionId: entry.versionId,
    sequence: entry.sequence,
    sourceSite: ctx.sourceSite,
    ...(late ? { late: true } : {}),
  };
  const marked = markReplica(source.userMetadata, source.tags, marker);
  if (!marked.ok) {
    body.destroy();
    throw ApplicationFailure.create({
      message: `cannot replicate ${describeSubject(subject)}: ${marked.reason}`,
      type: 'PermanentNoRoomForMarker',
      nonRetryable: true,
    });
  }

  let copied: CopiedData;
  try {
    const write = { source, metadata: marked.metadata, tags: marked.tags };
    if (source.size > ctx.settings.multipartThresholdBytes) {
      // Parts are read with ranged GETs, so the whole-object stream is not needed.
      body.destroy();
      copied = await copyMultipart(ctx, task, write, target);
    } else {
      copied = await copySinglePut(task, write, body, target);
    }
  } catch (err) {
    body.destroy();
    throw replicationFailure('copying data', subject, err);
  }
  if (copied.targetVersionId) {
    ctx.markers.set(task.target.site, task.target.bucket, entry.key, copied.targetVersionId, marker);
  }

  let detail = copied.detail;
  if (late && placed.latest) {
    try {
      await restoreLatest(ctx, task, target, placed.latest);
    } catch (err) {
      throw replicationFailure('restoring the newer version as latest', subject, err);
    }
    detail = `replicated on retry below newer changes (${placement.why}); the target's latest was restored on top`;
  }
  return {
    identity: taskIdentity(task),
    targetVersionId: copied.targetVersionId,
    bytes: copied.bytes,
    attempts: Context.current().info.attempt,
    detail,
  };
}

import type { Readable } from 'node:stream';
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { RUN_AS_REGULAR_ACTIVITY, transferFor, type ReplanDetails, type Transfer } from '../shared/copy-plan';
import type { ReplicationTask, TaskEntry } from '../shared/replication-task';
import { copyMultipart } from './copy-multipart';
import { copySinglePut } from './copy-single-put';
import type { CopiedData } from './replica-write';
import { describeSubject, explainWriteFailure, replicationFailure, subjectOf } from './errors';
import { bareEtag, NULL_VERSION_ID } from '../shared/s3-names';
import { REPLICA_STATUS_FIELD, REPLICA_STATUS_VALUE } from '../shared/replica-marker';
import type { TargetEntry } from './placement';
import { WRITTEN_AT_FIELD } from './version-history';
import {
  isReplica,
  markReplica,
  USER_METADATA_LIMIT,
  userMetadataSize,
  type ReplicaMarker,
} from './replica-metadata';
import { COPY_STAMP_FIELD, tagsDigest } from './tags-sync';
import type { ReplicationContext } from './replication-context';
import { isGone } from '../clients/s3-errors';
import { openSourceVersion, tagsMatch, type SourceVersion } from './source-version';
import { isFenceRejection, TargetChanged, type WriteFence } from './write-fence';
import { isWriteExpired } from '../clients/s3-expiring-writes';

export type VersionCopy =
  | ({ copied: true } & CopiedData)
  /** Nothing written, and why (a detail starting "not replicated:"). */
  | { copied: false; detail: string };

/**
 * Copies one source version to the target by streaming (never through Temporal), with its
 * metadata and tags, marked as a replica (`late` when it goes in above newer versions).
 * Writes nothing for a version that is gone from the source, is itself a replica, does not
 * have the tags its rule requires, or is a "null" version the source overwrote since.
 */
export async function copyVersion(
  ctx: ReplicationContext,
  task: ReplicationTask,
  entry: TaskEntry,
  /**
   * `transfer`: the workflow's plan for its own change; absent, the source's size decides.
   * `fence`: what the target's latest must still be for the write to land (write-fence.ts).
   */
  options: { late?: boolean; transfer?: Transfer; fence?: WriteFence } = {},
): Promise<VersionCopy> {
  const subject = { ...subjectOf(task), versionId: entry.versionId };
  const target = ctx.targetClient(task.target.site);
  let opened: { body: Readable; source: SourceVersion };
  try {
    opened = await openSourceVersion(ctx.source, entry);
  } catch (err) {
    if (isGone(err)) return { copied: false, detail: 'not replicated: the source version no longer exists' };
    throw replicationFailure('reading the source version', subject, err);
  }
  const { body, source } = opened;
  const skip = (detail: string): VersionCopy => {
    body.destroy();
    return { copied: false, detail };
  };
  if (isReplica(source.userMetadata, source.tags)) {
    return skip('not replicated: the source version is itself a replica (no replication loops)');
  }
  if (entry.versionId === NULL_VERSION_ID && entry.etag && bareEtag(source.etag) !== entry.etag) {
    // An unversioned or suspended bucket keeps one "null" version: this write was overwritten
    // on the source and its own journal entry will bring the newer bytes.
    return skip('not replicated: superseded (the source overwrote its null version since)');
  }
  if (task.target.requiredTags && !tagsMatch(source.tags, task.target.requiredTags)) {
    return skip(`not replicated: the version's tags do not match rule ${task.target.ruleId}`);
  }
  const planned = options.transfer;
  const transfer = planned ?? transferFor(source.size, ctx.settings, source.etag);
  const local = Context.current().info.isLocal;
  if (
    (local && source.size > ctx.settings.localActivityMaxBytes) ||
    (planned === 'single-put' && transferFor(source.size, ctx.settings) === 'multipart')
  ) {
    // The journal said less than the source holds: such a copy needs heartbeats and resumable
    // parts, which only the workflow can schedule (it decides the transfer from this size).
    body.destroy();
    const details: ReplanDetails = { sourceSize: source.size };
    throw ApplicationFailure.create({
      message: `${describeSubject(subject)} is ${source.size} bytes, more than its plan allows (${local ? 'local activity' : transfer}): the workflow plans it again`,
      type: RUN_AS_REGULAR_ACTIVITY,
      nonRetryable: true,
      details: [details],
    });
  }
  const marker: ReplicaMarker = {
    sourceVersionId: entry.versionId,
    sequence: entry.sequence,
    sourceSite: ctx.sourceSite,
    ...(options.late ? { late: true } : {}),
  };
  const marked = markReplica(source.userMetadata, source.tags, marker);
  if (!marked.ok) {
    body.destroy();
    throw ApplicationFailure.create({
      message: `[NO_ROOM_FOR_MARKER] cannot replicate ${describeSubject(subject)}: ${marked.reason}`,
      type: 'PermanentNoRoomForMarker',
      nonRetryable: true,
    });
  }
  let copied: CopiedData;
  const copyEnded = ctx.copyLoad?.copyStarted(source.size);
  try {
    // Two-way: the replica records the digest of the tags both sides start with (tags-sync.ts).
    const withStamp = ctx.isTwoWay?.(task)
      ? { ...marked.metadata, [COPY_STAMP_FIELD]: tagsDigest(source.tags) }
      : undefined;
    const stamp = withStamp !== undefined && userMetadataSize(withStamp) <= USER_METADATA_LIMIT;
    const write = {
      source,
      metadata: stamp ? withStamp : marked.metadata,
      tags: marked.tags,
      ...(options.fence ? { fence: options.fence } : {}),
    };
    // An empty version has no part to upload (nor anything to resume).
    if (transfer === 'multipart' && source.size > 0) {
      // Parts are read with ranged GETs, so the whole-object stream is not needed.
      body.destroy();
      copied = await copyMultipart(ctx, { ...task, entry }, write, target);
    } else {
      copied = await copySinglePut({ ...task, entry }, write, body, target);
    }
  } catch (err) {
    body.destroy();
    if (isFenceRejection(err, options.fence)) {
      throw new TargetChanged(
        `${describeSubject(subject)}: the target's latest version changed while the replica was written (an earlier attempt's write arrived, or another writer)`,
        { cause: err },
      );
    }
    // Refused on arrival, it did not act: what the target holds now is read again.
    if (isWriteExpired(err))
      throw new TargetChanged(`${describeSubject(subject)}: ${err.message}`, { cause: err });
    throw replicationFailure(
      'copying data',
      subject,
      await explainWriteFailure(target, task.target.bucket, err),
    );
  } finally {
    copyEnded?.();
  }
  if (!copied.targetVersionId) {
    // Without versions the target keeps only the latest write: order and exactly-once cannot hold.
    throw ApplicationFailure.create({
      message: `[TARGET_VERSIONING_DISABLED] copying data failed for ${describeSubject(subject)}: the destination bucket returned no version id (enable versioning on it, then retry)`,
      type: 'PermanentVersioningDisabled',
      nonRetryable: true,
    });
  }
  ctx.markers.set(task.target.site, task.target.bucket, entry.key, copied.targetVersionId, marker);
  return { copied: true, ...copied };
}

/**
 * Puts back on top what was the target's latest before a late version was inserted: a copy
 * of that version (server-side, marker included) or a new delete marker.
 */
export async function restoreLatest(
  ctx: ReplicationContext,
  task: ReplicationTask,
  target: S3Client,
  latest: TargetEntry,
): Promise<string | undefined> {
  const { bucket } = task.target;
  const { key } = task.entry;
  try {
    if (latest.isDeleteMarker) {
      const deleted = await target.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      return deleted.VersionId;
    }
    const copySource = `${bucket}/${encodeURIComponent(key)}?versionId=${encodeURIComponent(latest.versionId)}`;
    // A write made on the target itself (two-way) is restored marked as a replica, so that
    // the target's journal does not send the copy back as a new write.
    const local = latest.marker === null ? await localRestoreHeaders(target, bucket, key, latest) : undefined;
    const copied = await target.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: key,
        CopySource: copySource,
        MetadataDirective: local ? 'REPLACE' : 'COPY',
        TaggingDirective: 'COPY',
        ...local,
      }),
    );
    if (copied.VersionId && latest.marker !== undefined) {
      const writtenAt = local ? Date.parse(local.Metadata[WRITTEN_AT_FIELD]!) : undefined;
      ctx.markers.set(task.target.site, bucket, key, copied.VersionId, latest.marker, writtenAt);
    }
    return copied.VersionId;
  } catch (err) {
    throw replicationFailure('restoring the newer version as latest', subjectOf(task), err);
  }
}

/** The headers a REPLACE copy must repeat, with the replica status added to the user metadata. */
async function localRestoreHeaders(target: S3Client, bucket: string, key: string, latest: TargetEntry) {
  const head = await target.send(
    new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: latest.versionId }),
  );
  // The copy keeps the time of the write it restores (a copy of a copy keeps the first).
  const writtenAt = latest.writtenAt ?? latest.lastModified ?? head.LastModified ?? new Date();
  return {
    Metadata: {
      ...head.Metadata,
      [REPLICA_STATUS_FIELD]: REPLICA_STATUS_VALUE,
      [WRITTEN_AT_FIELD]: head.Metadata?.[WRITTEN_AT_FIELD] ?? writtenAt.toISOString(),
    },
    ...(head.ContentType ? { ContentType: head.ContentType } : {}),
    ...(head.CacheControl ? { CacheControl: head.CacheControl } : {}),
    ...(head.ContentDisposition ? { ContentDisposition: head.ContentDisposition } : {}),
    ...(head.ContentEncoding ? { ContentEncoding: head.ContentEncoding } : {}),
    ...(head.ContentLanguage ? { ContentLanguage: head.ContentLanguage } : {}),
    ...(head.Expires ? { Expires: head.Expires } : {}),
  };
}

import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type {
  AppliedAhead,
  ReplicationOutcome,
  ReplicationTask,
  TaskEntry,
} from '../shared/replication-task';
import type { Transfer } from '../shared/copy-plan';
import { taskIdentity } from '../shared/replication-task';
import { copyVersion, restoreLatest } from './copy-object-version';
import { replicationFailure, subjectOf } from './errors';
import { runSegment, type PendingChange, type SegmentEntry } from './placement';
import type { ReplicationContext } from './replication-context';
import { placeChange, type ChangePlacement } from './target-state';
import { assertFreshView, checkMarkerPlacement, type TargetView } from './delete-marker-check';
import { fenceAfterPut, fenceOn, TargetChanged } from './write-fence';
import { isWriteExpired } from '../clients/s3-expiring-writes';

/**
 * Applies one put or delete marker to the target, idempotently and in the source's order
 * (placement.ts): nothing is written when the change is already there or comes late; else
 * the source entries between the target's newest replicated version and the change are
 * brought over first, in source order, and reported so that their own journal entries,
 * still queued in the workflow, complete without running.
 */
export async function applyChange(
  ctx: ReplicationContext,
  task: ReplicationTask,
  pending: PendingChange[] = [],
  transfer?: Transfer,
): Promise<ReplicationOutcome> {
  for (let replans = 0; ; replans++) {
    try {
      return await applyChangeOnce(ctx, task, pending, transfer);
    } catch (err) {
      if (!(err instanceof TargetChanged)) throw err;
      if (replans >= MAX_REPLANS) {
        throw ApplicationFailure.create({
          message: `[TARGET_CHANGED] ${err.message}; planned ${replans + 1} times in this attempt, retried`,
          type: 'TransientTargetChanged',
          cause: err,
        });
      }
      ctx.logger.info(
        {
          bucket: task.entry.bucket,
          key: task.entry.key,
          versionId: task.entry.versionId,
          site: task.target.site,
        },
        `${err.message}: planned again from the target's history`,
      );
    }
  }
}

/** Fenced writes refused in one attempt before it fails (and Temporal retries it with backoff). */
const MAX_REPLANS = 3;

async function applyChangeOnce(
  ctx: ReplicationContext,
  task: ReplicationTask,
  pending: PendingChange[],
  transfer: Transfer | undefined,
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const target = ctx.targetClient(task.target.site);
  const attempts = Context.current().info.attempt;
  const identity = taskIdentity(task);
  const outcome = (
    detail: string | undefined,
    extra: Partial<ReplicationOutcome> = {},
  ): ReplicationOutcome => ({
    identity,
    bytes: 0,
    attempts,
    ...(detail ? { detail } : {}),
    ...extra,
  });

  let placed: ChangePlacement;
  const plannedAt = performance.now();
  try {
    placed = await placeChange(ctx, task, pending);
  } catch (err) {
    throw replicationFailure('reading the source and target versions', subject, err);
  }
  const { plan } = placed;
  // Each write is fenced on the latest the previous one left (write-fence.ts).
  const fencing = ctx.conditionalWrites?.(task.target.site) ?? true;
  let fence = fencing ? fenceOn(placed.latest) : undefined;
  // What a delete marker is planned on (delete-marker-check.ts): the listing, then each write
  // of this attempt. A fenced write proves the target's state when it was sent.
  let view: TargetView = { at: plannedAt, latestId: placed.latest?.versionId };
  const copyFenced = async (entry: TaskEntry, options: { late?: boolean; transfer?: Transfer }) => {
    const sentAt = performance.now();
    const fenced = fence !== undefined;
    const copied = await copyVersion(ctx, task, entry, { ...options, ...(fence ? { fence } : {}) });
    if (copied.copied) {
      view = { at: fenced ? sentAt : view.at, latestId: copied.targetVersionId };
      if (fencing) fence = fenceAfterPut(copied.etag);
    }
    return copied;
  };
  switch (plan.kind) {
    case 'found':
      return outcome('already replicated', { targetVersionId: plan.entry.versionId });
    case 'found-needs-restore':
      if (plan.restoreFrom) await restoreLatest(ctx, task, target, plan.restoreFrom);
      return outcome('already replicated (the newer version was restored as latest)', {
        targetVersionId: plan.entry.versionId,
      });
    case 'gone':
      return task.entry.operation === 'put'
        ? outcome('not replicated: the source version no longer exists')
        : applyGoneDeleteMarker();
    case 'late':
      // Two-way, a newer write on the destination: the version still goes in, under it.
      if (task.entry.operation === 'put' && (task.retry || plan.lastWriterWins)) return insertLate(plan.why);
      ctx.logger.warn(
        {
          bucket: task.entry.bucket,
          key: task.entry.key,
          versionId: task.entry.versionId,
          site: task.target.site,
        },
        `late change not replicated: ${plan.why}`,
      );
      return outcome(`not replicated: superseded (${plan.why})`);
    case 'sync':
      return sync(plan.segment, plan.targetDeleteMarkers);
    default:
      throw new Error(`unexpected placement ${plan.kind}`);
  }

  /** The source no longer lists the delete marker (a version delete): applied unless the target already ends with one. */
  async function applyGoneDeleteMarker(): Promise<ReplicationOutcome> {
    if (placed.latest?.isDeleteMarker)
      return outcome('already replicated', { targetVersionId: placed.latest.versionId });
    return outcome('the source no longer lists this delete marker', {
      targetVersionId: await deleteOnTarget(),
    });
  }

  /** An operator's retry of a version older than the target's latest: insert it, then restore the latest on top. */
  async function insertLate(why: string): Promise<ReplicationOutcome> {
    const copied = await copyFenced(task.entry, { late: true, transfer });
    if (!copied.copied) return outcome(copied.detail);
    if (placed.latest) await restoreLatest(ctx, task, target, placed.latest);
    return outcome(
      `replicated ${task.retry ? 'on retry ' : ''}below newer changes (${why}); the target's latest was restored on top`,
      {
        targetVersionId: copied.targetVersionId,
        bytes: copied.bytes,
      },
    );
  }

  /** A delete marker on top, checked before and after since it cannot be fenced (delete-marker-check.ts). */
  async function deleteOnTarget(): Promise<string | undefined> {
    assertFreshView(view);
    const { bucket } = task.target;
    const { key } = task.entry;
    let markerId: string | undefined;
    let checkedAt: number;
    try {
      markerId = (await target.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))).VersionId;
      checkedAt = performance.now();
      const check = markerNeedsCheck(markerId)
        ? await checkMarkerPlacement(target, bucket, key, markerId, view.latestId)
        : { placement: 'placed' as const };
      if (check.placement === 'misplaced') {
        const { below } = check;
        if (!check.removed && below && !below.isDeleteMarker) await restoreLatest(ctx, task, target, below);
        ctx.logger.warn(
          { bucket: task.entry.bucket, key, versionId: task.entry.versionId, site: task.target.site },
          check.removed
            ? `delete marker ${markerId} landed above entries written since this attempt read the target: removed again`
            : `delete marker ${markerId} landed above entries written since this attempt read the target, and the target refuses version deletes: the entry below was put back on top`,
        );
      }
      if (check.placement !== 'placed') {
        throw new TargetChanged(
          `the target changed around the delete marker ${markerId} (${check.placement})`,
        );
      }
    } catch (err) {
      if (err instanceof TargetChanged) throw err;
      // Refused on arrival, it did not act: what the target holds now is read again.
      if (isWriteExpired(err)) throw new TargetChanged(`the delete marker: ${err.message}`);
      throw replicationFailure('replicating the delete marker', subject, err);
    }
    view = { at: checkedAt, latestId: markerId };
    if (fencing) fence = { ifNoneMatch: '*' };
    return markerId;
  }

  /**
   * Whether the marker the DELETE answered with must be checked. Not without a version id
   * (an unversioned target, whose copies fail with TARGET_VERSIONING_DISABLED); not when it
   * is the latest the attempt planned on (MinIO makes no marker on a key whose latest is
   * one and answers with that marker's id: nothing was written); and not two-way, where
   * the target's own writes compete by time (last writer wins), so a marker above a newer
   * local write is not out of place, and a local delete must never be removed.
   */
  function markerNeedsCheck(markerId: string | undefined): markerId is string {
    return markerId !== undefined && markerId !== view.latestId && !(ctx.isTwoWay?.(task) ?? false);
  }

  async function sync(segment: SegmentEntry[], targetDeleteMarkers: number): Promise<ReplicationOutcome> {
    const done = await runSegment(segment, targetDeleteMarkers, {
      deleteMarker: deleteOnTarget,
      copy: async (entry) => {
        if (entry.isChange) {
          const copied = await copyFenced(task.entry, { transfer });
          return copied.copied ? { applied: true, ...copied } : { applied: false, detail: copied.detail };
        }
        // A version found on the source ahead of its journal entry: planned from its real size.
        const version: TaskEntry = {
          bucket: task.entry.bucket,
          key: task.entry.key,
          versionId: entry.versionId,
          operation: 'put',
          eventTime: task.entry.eventTime,
          sequence: entry.pending?.sequence ?? '0',
        };
        const copied = await copyFenced(version, {});
        return copied.copied ? { applied: true, ...copied } : { applied: false, detail: copied.detail };
      },
    });
    const ahead: AppliedAhead[] = done.ahead.map((a) => ({
      identity: a.pending.identity,
      ...(a.targetVersionId ? { targetVersionId: a.targetVersionId } : {}),
      detail:
        a.detail ?? `replicated ahead of its journal entry, in source order (with ${task.entry.versionId})`,
    }));
    return outcome(done.change.detail, {
      ...(done.change.targetVersionId ? { targetVersionId: done.change.targetVersionId } : {}),
      bytes: done.change.bytes,
      ...(ahead.length > 0 ? { appliedAhead: ahead } : {}),
    });
  }
}

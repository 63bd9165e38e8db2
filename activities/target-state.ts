/**
 * Reads what the placement rules (placement.ts) need from the two sites: the target's
 * history of a key with each version's replica marker, and the source's history around a
 * change. Listing stops as soon as a decision is possible, so a change on a key with a long
 * history usually costs one small ListObjectVersions per site.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { JOURNAL_REPLICATION_INFO_RULE, type ReplicationTask } from '../shared/replication-task';
import {
  nullPlacement,
  planSync,
  replicates,
  type ChangeRef,
  type PendingChange,
  type SourceEntry,
  type SyncPlan,
  type TargetEntry,
} from './placement';
import type { ReplicationContext } from './replication-context';
import { keyHasNoHistory, keyHistory, readMarkerOf, type VersionEntry } from './version-history';
import { NULL_VERSION_ID } from '../shared/s3-names';

async function withMarker(
  ctx: ReplicationContext,
  site: string,
  s3: S3Client,
  bucket: string,
  key: string,
  entry: VersionEntry,
): Promise<TargetEntry> {
  if (entry.isDeleteMarker) return entry;
  const marker = await readMarkerOf(s3, ctx.markers, site, bucket, key, entry.versionId);
  const writtenAt = marker === null ? ctx.markers.writtenAt(site, bucket, key, entry.versionId) : undefined;
  return { ...entry, marker, ...(writtenAt !== undefined ? { writtenAt: new Date(writtenAt) } : {}) };
}

/**
 * The target's history of the task's key, newest first, markers resolved as it goes.
 * `likelyNew`: whether the key is probably new to the target (asked only for a key this
 * worker has not seen there): then one HEAD of its latest may answer that it has no history
 * at all, instead of a versions listing (keyHasNoHistory). Without it, the key is listed.
 */
export async function* targetHistory(
  ctx: ReplicationContext,
  task: ReplicationTask,
  likelyNew?: () => Promise<boolean>,
): AsyncGenerator<TargetEntry> {
  const target = ctx.targetClient(task.target.site);
  const { site, bucket } = task.target;
  const { key } = task.entry;
  if (
    likelyNew &&
    !ctx.markers.hadHistory(site, bucket, key) &&
    (await likelyNew()) &&
    (await keyHasNoHistory(target, bucket, key))
  )
    return;
  for await (const entry of keyHistory(target, bucket, key)) {
    ctx.markers.noteHistory(site, bucket, key);
    yield withMarker(ctx, site, target, bucket, key, entry);
  }
}

/** The source's history of the task's key, newest first (no markers). */
function sourceHistory(ctx: ReplicationContext, task: ReplicationTask): AsyncGenerator<VersionEntry> {
  return keyHistory(ctx.source, task.entry.bucket, task.entry.key);
}

/** A history read a few entries at a time, as the placement rules ask for more. */
class LazyHistory<T> {
  readonly entries: T[] = [];
  complete = false;

  constructor(
    private readonly iterator: AsyncGenerator<T>,
    private readonly step: number,
  ) {}

  /** Reads up to `step` more entries; false once the history is exhausted. */
  async more(): Promise<boolean> {
    for (let n = 0; n < this.step; n++) {
      const next = await this.iterator.next();
      if (next.done) {
        this.complete = true;
        return false;
      }
      this.entries.push(next.value);
    }
    return true;
  }

  async close(): Promise<void> {
    await this.iterator.return(undefined);
  }
}

export interface ChangePlacement {
  plan: SyncPlan;
  /** The target's latest entry (what a late insert must restore on top). */
  latest?: TargetEntry;
}

// Target entries cost a HEAD each until their marker is cached: read a few at a time.
const TARGET_STEP = 8;
const SOURCE_STEP = 50;
// Source versions checked for being replicas of target versions (two-way replication).
const ORIGIN_CHECKS = 8;

/** Where a put or delete marker goes on the target (placement.ts), reading both histories as needed. */
export async function placeChange(
  ctx: ReplicationContext,
  task: ReplicationTask,
  pending: PendingChange[],
): Promise<ChangePlacement> {
  const change: ChangeRef = {
    versionId: task.entry.versionId,
    operation: task.entry.operation === 'delete-marker' ? 'delete-marker' : 'put',
    sequence: task.entry.sequence,
  };
  const source = new LazyHistory<SourceEntry>(sourceHistory(ctx, task), SOURCE_STEP);
  let sourceRead: Promise<boolean> | undefined;
  const readSource = () => (sourceRead ??= source.more());
  // A key whose whole source history is this version is new (the common case), and most
  // likely new to the target too. Only a key this worker has not seen on the target waits
  // for the source's first page to know it.
  const likelyNew =
    change.versionId === NULL_VERSION_ID
      ? undefined
      : async () => {
          await readSource();
          return source.complete && source.entries.every((e) => e.versionId === change.versionId);
        };
  const target = new LazyHistory(targetHistory(ctx, task, likelyNew), TARGET_STEP);
  try {
    if (change.versionId === NULL_VERSION_ID) {
      while (await target.more());
      return { plan: nullPlacement(change, target.entries), latest: target.entries[0] };
    }
    await Promise.all([target.more(), readSource()]);
    let originsChecked = false;
    // Two-way: which target writes the source has already seen decides which ones compete.
    const lastWriterWins = ctx.isTwoWay?.(task)
      ? { sourceSite: ctx.sourceSite, targetSite: task.target.site }
      : undefined;
    if (lastWriterWins) {
      originsChecked = true;
      await resolveOrigins(ctx, task, source.entries);
    }
    for (;;) {
      const plan = planSync({
        change,
        source: source.entries,
        sourceComplete: source.complete,
        target: target.entries,
        targetComplete: target.complete,
        pending,
        replicateDeleteMarkers: task.target.replicateDeleteMarkers,
        catchUpUnknown: task.target.ruleId !== JOURNAL_REPLICATION_INFO_RULE,
        ...(lastWriterWins ? { lastWriterWins } : {}),
        catchUpExisting:
          task.backfill !== undefined ||
          (ctx.backfillScopes?.covers(
            task.target.site,
            task.entry.bucket,
            task.entry.key,
            task.entry.sourceSite,
          ) ??
            false),
      });
      if (plan.kind === 'need-more-source') {
        await source.more();
        continue;
      }
      if (plan.kind === 'need-more-target') {
        if (!originsChecked && target.entries.some((e) => !e.isDeleteMarker && e.marker === null)) {
          // Versions this engine did not write may be the originals of source replicas.
          originsChecked = true;
          await resolveOrigins(ctx, task, source.entries);
          continue;
        }
        if (target.complete) await source.more();
        else await target.more();
        continue;
      }
      return { plan, latest: target.entries[0] };
    }
  } finally {
    await Promise.all([target.close(), source.close()]);
  }
}

/**
 * Marks the first source versions that are themselves replicas of a version of the target
 * (two-way replication): the target's original anchors them, so a replicated delete marker
 * is recognised on its way back and does not bounce.
 */
async function resolveOrigins(ctx: ReplicationContext, task: ReplicationTask, source: SourceEntry[]) {
  const puts = source
    .filter((e) => !e.isDeleteMarker && e.versionId !== NULL_VERSION_ID)
    .slice(0, ORIGIN_CHECKS);
  for (const put of puts) {
    const marker = await readMarkerOf(
      ctx.source,
      ctx.markers,
      ctx.sourceSite,
      task.entry.bucket,
      task.entry.key,
      put.versionId,
    );
    // A late insert does not say where the original stands in the source's order.
    if (marker && marker.sourceSite === task.target.site && !marker.late)
      put.originOnTarget = marker.sourceVersionId;
  }
}

/** Every target version that replicates the task's source version (restored copies included). */
export async function replicasOf(
  ctx: ReplicationContext,
  task: ReplicationTask,
  knownTargetVersionId?: string,
): Promise<string[]> {
  const change = task.entry;
  if (knownTargetVersionId) {
    const target = ctx.targetClient(task.target.site);
    const marker = await readMarkerOf(
      target,
      ctx.markers,
      task.target.site,
      task.target.bucket,
      change.key,
      knownTargetVersionId,
    ).catch(() => null);
    if (marker && marker.sourceVersionId === change.versionId) return [knownTargetVersionId];
  }
  const found: string[] = [];
  for await (const entry of targetHistory(ctx, task)) {
    if (!entry.marker) continue;
    // A metadata change has its own sequence: "null" versions match their newest replica.
    if (change.versionId === NULL_VERSION_ID) {
      if (entry.marker.sourceVersionId === NULL_VERSION_ID) return [entry.versionId];
      continue;
    }
    if (replicates(entry.marker, change)) found.push(entry.versionId);
  }
  return found;
}

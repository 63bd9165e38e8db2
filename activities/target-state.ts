/**
 * Reads what the placement rules (placement.ts) need from the two sites: the target's
 * history of a key with each version's replica marker, and the source's history around a
 * change. Listing stops as soon as a decision is possible, so a change on a key with a long
 * history usually costs one small ListObjectVersions per site.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { ReplicationTask } from '../shared/replication-task';
import {
  placeDeleteMarker,
  placePut,
  placePutAfterDeleteMarkers,
  PutScan,
  replicates,
  sourceDeleteMarkersBetween,
  type DeleteMarkerPlacement,
  type PutPlacement,
  type TargetEntry,
} from './placement';
import type { ReplicationContext } from './replication-context';
import { keyHistory, readMarkerOf, type VersionEntry } from './version-history';

async function withMarker(
  ctx: ReplicationContext,
  site: string,
  s3: S3Client,
  bucket: string,
  key: string,
  entry: VersionEntry,
): Promise<TargetEntry> {
  if (entry.isDeleteMarker) return entry;
  return { ...entry, marker: await readMarkerOf(s3, ctx.markers, site, bucket, key, entry.versionId) };
}

/** The target's history of the task's key, newest first, markers resolved as it goes. */
export async function* targetHistory(
  ctx: ReplicationContext,
  task: ReplicationTask,
): AsyncGenerator<TargetEntry> {
  const target = ctx.targetClient(task.target.site);
  for await (const entry of keyHistory(target, task.target.bucket, task.entry.key)) {
    yield withMarker(ctx, task.target.site, target, task.target.bucket, task.entry.key, entry);
  }
}

/** The source's history of the task's key, newest first (no markers). */
function sourceHistory(ctx: ReplicationContext, task: ReplicationTask): AsyncGenerator<VersionEntry> {
  return keyHistory(ctx.source, task.entry.bucket, task.entry.key);
}

export interface PutOnTarget {
  placement: PutPlacement;
  /** The target's latest entry before this put (what a late insert must restore on top). */
  latest?: TargetEntry;
  /** For found-needs-restore: the newest in-order entry below the late replica. */
  restoreFrom?: TargetEntry;
  /** The source version is not listed on the source any more. */
  sourceGone?: boolean;
}

/** Where a put goes on the target (see placement.ts). */
export async function placePutOnTarget(ctx: ReplicationContext, task: ReplicationTask): Promise<PutOnTarget> {
  const scan = new PutScan(task.entry);
  const history = targetHistory(ctx, task);
  let latest: TargetEntry | undefined;
  try {
    for (let next = await history.next(); !next.done; next = await history.next()) {
      latest ??= next.value;
      if (scan.feed(next.value)) break;
    }
    const placement = placePut(scan, task.target.replicateDeleteMarkers);
    if (placement.kind === 'found-needs-restore') {
      // A retry inserted this replica and stopped before restoring what was the latest, which
      // is the entry right below it.
      const below = await history.next();
      return { placement, latest, restoreFrom: below.done ? undefined : below.value };
    }
    if (placement.kind !== 'count-source-delete-markers') return { placement, latest };
    return { ...(await countSourceDeleteMarkers(ctx, task, placement)), latest };
  } finally {
    await history.return(undefined);
  }
}

async function countSourceDeleteMarkers(
  ctx: ReplicationContext,
  task: ReplicationTask,
  placement: Extract<PutPlacement, { kind: 'count-source-delete-markers' }>,
): Promise<Omit<PutOnTarget, 'latest'>> {
  const source: VersionEntry[] = [];
  let seenPut = false;
  for await (const entry of sourceHistory(ctx, task)) {
    source.push(entry);
    if (!entry.isDeleteMarker && entry.versionId === task.entry.versionId) seenPut = true;
    if (seenPut && !entry.isDeleteMarker && entry.versionId === placement.anchorSourceVersionId) break;
  }
  const between = sourceDeleteMarkersBetween(source, task.entry.versionId, placement.anchorSourceVersionId);
  if (between === undefined) return { placement, sourceGone: true };
  return { placement: placePutAfterDeleteMarkers(placement.targetDeleteMarkers, between) };
}

/** Where a delete marker goes on the target (see placement.ts). */
export async function placeDeleteMarkerOnTarget(
  ctx: ReplicationContext,
  task: ReplicationTask,
): Promise<DeleteMarkerPlacement & { sourceListed: boolean }> {
  const { versionId } = task.entry;
  const below: Array<VersionEntry & { originOnTarget?: string }> = [];
  const newerPuts = new Set<string>();
  let listed = false;
  for await (const entry of sourceHistory(ctx, task)) {
    if (listed) below.push(entry);
    else if (entry.isDeleteMarker && entry.versionId === versionId) listed = true;
    else if (!entry.isDeleteMarker) newerPuts.add(entry.versionId);
  }
  // A source version that is itself a replica of a target version (two-way replication) is
  // recognised on the target as that version: a replicated delete marker never bounces back.
  const firstPut = below.find((e) => !e.isDeleteMarker);
  if (firstPut) {
    const marker = await readMarkerOf(
      ctx.source,
      ctx.markers,
      ctx.sourceSite,
      task.entry.bucket,
      task.entry.key,
      firstPut.versionId,
    );
    if (marker && marker.sourceSite === task.target.site) firstPut.originOnTarget = marker.sourceVersionId;
  }
  const target: TargetEntry[] = [];
  const anchors = new Set(below.filter((e) => !e.isDeleteMarker).map((e) => e.versionId));
  const origins = new Set(below.flatMap((e) => (e.originOnTarget ? [e.originOnTarget] : [])));
  for await (const entry of targetHistory(ctx, task)) {
    target.push(entry);
    if (entry.isDeleteMarker) continue;
    if (origins.has(entry.versionId)) break;
    if (!listed && entry.marker && !entry.marker.late) break; // fallback anchor: newest in-order replica
    if (entry.marker && !entry.marker.late && anchors.has(entry.marker.sourceVersionId)) break;
  }
  if (!listed) {
    // The marker is gone from the source (a version delete, or a "null" marker overwritten):
    // rank it first above the newest in-order replica.
    const newest = target.find((e) => !e.isDeleteMarker && e.marker && !e.marker.late);
    const fallbackBelow = newest?.marker ? [{ ...newest, versionId: newest.marker.sourceVersionId }] : [];
    return { ...placeDeleteMarker(fallbackBelow, target), sourceListed: false };
  }
  return { ...placeDeleteMarker(below, target, newerPuts), sourceListed: true };
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
    if (change.versionId === 'null') {
      if (entry.marker.sourceVersionId === 'null') return [entry.versionId];
      continue;
    }
    if (replicates(entry.marker, change)) found.push(entry.versionId);
  }
  return found;
}

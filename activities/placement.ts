/**
 * Where one journal change belongs in a key's version history on the target, judged from
 * that whole history rather than from its latest version: the rules that make every put
 * and delete marker idempotent (a re-executed or redelivered change is recognised and
 * changes nothing) and keep the target in source order (an older change never lands above
 * a newer one). Pure functions over listed entries; the activities do the listing.
 *
 * Facts they rest on:
 * - a replica names its source version and journal sequence (replica-metadata.ts);
 * - a key's changes are applied one at a time in journal order (one workflow per key), so
 *   non-late replicas appear on the target in increasing sequence order, and a delete
 *   marker the engine wrote sits directly above whatever was the latest when it was applied;
 * - delete markers carry no metadata: one is identified by its position, as the n-th
 *   delete marker above the replica of the source version below it, n being counted on the
 *   source.
 */
import { compareSequences, type ReplicaMarker } from './replica-metadata';
import type { VersionEntry } from './version-history';

/** A target entry with its replica marker: `null` for versions this engine did not write. */
export interface TargetEntry extends VersionEntry {
  marker?: ReplicaMarker | null;
}

export interface ChangeRef {
  versionId: string;
  sequence: string;
}

/** Same source version: by version id, and for "null" versions (unversioned or suspended buckets) by sequence. */
export function replicates(marker: ReplicaMarker, change: ChangeRef): boolean {
  if (change.versionId === 'null') {
    return marker.sourceVersionId === 'null' && marker.sequence === change.sequence;
  }
  return marker.sourceVersionId === change.versionId;
}

/**
 * Walks a target history newest first for a put: stops at the put's own replica (found) or
 * at the first older in-order replica (the anchor the put goes above). Entries seen before
 * that form the tail: delete markers, versions this engine did not write, late inserts, and
 * replicas of newer source versions.
 */
export class PutScan {
  readonly tail: TargetEntry[] = [];
  found?: TargetEntry;
  anchor?: TargetEntry;
  newerReplica = false;
  deleteMarkers = 0;

  constructor(private readonly change: ChangeRef) {}

  /** Feeds the next entry (newest first, marker resolved for versions); true when the walk can stop. */
  feed(entry: TargetEntry): boolean {
    if (entry.isDeleteMarker) {
      this.deleteMarkers++;
      this.tail.push(entry);
      return false;
    }
    const marker = entry.marker;
    if (marker && replicates(marker, this.change)) {
      this.found = entry;
      return true;
    }
    if (!marker || marker.late) {
      this.tail.push(entry);
      return false;
    }
    if (compareSequences(marker.sequence, this.change.sequence) > 0) {
      this.newerReplica = true;
      this.tail.push(entry);
      return false;
    }
    this.anchor = entry;
    return true;
  }
}

export type PutPlacement =
  | { kind: 'found'; entry: TargetEntry }
  /** Its replica is there but is the latest although it was inserted late: restore what was above. */
  | { kind: 'found-needs-restore'; entry: TargetEntry }
  | { kind: 'append' }
  /** The target holds something newer than this put: it cannot go in its place. */
  | { kind: 'late'; why: string }
  /** Delete markers sit above the anchor: how many the source has between the anchor's version and the put decides. */
  | { kind: 'count-source-delete-markers'; anchorSourceVersionId?: string; targetDeleteMarkers: number };

export function placePut(scan: PutScan, replicateDeleteMarkers: boolean): PutPlacement {
  if (scan.found) {
    const isTop = scan.tail.length === 0;
    return scan.found.marker?.late && isTop
      ? { kind: 'found-needs-restore', entry: scan.found }
      : { kind: 'found', entry: scan.found };
  }
  if (scan.newerReplica) return { kind: 'late', why: 'a newer source version is already on the target' };
  if (scan.deleteMarkers > 0 && replicateDeleteMarkers) {
    return {
      kind: 'count-source-delete-markers',
      anchorSourceVersionId: scan.anchor?.marker?.sourceVersionId,
      targetDeleteMarkers: scan.deleteMarkers,
    };
  }
  return { kind: 'append' };
}

/** The decision once the source's delete markers between the anchor and the put are counted. */
export function placePutAfterDeleteMarkers(
  targetDeleteMarkers: number,
  sourceDeleteMarkers: number,
): PutPlacement {
  return targetDeleteMarkers > sourceDeleteMarkers
    ? { kind: 'late', why: 'a newer delete marker is already on the target' }
    : { kind: 'append' };
}

/**
 * Source delete markers strictly between a put and the anchor's source version, from the
 * source history newest first (`undefined` when the put itself is not listed: gone).
 */
export function sourceDeleteMarkersBetween(
  source: VersionEntry[],
  putVersionId: string,
  anchorSourceVersionId: string | undefined,
): number | undefined {
  const at = source.findIndex((e) => !e.isDeleteMarker && e.versionId === putVersionId);
  if (at < 0) return undefined;
  let count = 0;
  for (const entry of source.slice(at + 1)) {
    if (!entry.isDeleteMarker && entry.versionId === anchorSourceVersionId) break;
    if (entry.isDeleteMarker) count++;
  }
  return count;
}

/** What the source says about a delete marker: its rank in its gap, and the puts below it. */
export interface SourceGap {
  /** Source entries below the marker, newest first (bounded). */
  below: VersionEntry[];
}

/** A source put below the marker, and where its counterpart on the target can be recognised. */
export interface SourcePut {
  versionId: string;
  /** When this source version is itself a replica of a version of the target (two-way), that version's id. */
  originOnTarget?: string;
}

export type DeleteMarkerPlacement =
  { kind: 'found'; entry: TargetEntry } | { kind: 'append' } | { kind: 'late'; why: string };

/**
 * Places a delete marker. `below`: source entries under it (newest first); `target`: the
 * target history newest first (complete, or at least down to the anchor). The anchor is the
 * newest target replica of a source put below the marker; the marker's rank is 1 + the
 * source delete markers between it and that put. It is on the target when at least that
 * many delete markers sit directly above the anchor.
 */
export function placeDeleteMarker(
  below: Array<VersionEntry & { originOnTarget?: string }>,
  target: TargetEntry[],
  /** Source puts newer than the marker (a target replica of one means the marker comes late). */
  newerSourcePuts: ReadonlySet<string> = new Set(),
): DeleteMarkerPlacement {
  const sourceIndex = new Map<string, number>();
  const originIndex = new Map<string, number>();
  below.forEach((e, i) => {
    if (e.isDeleteMarker) return;
    if (!sourceIndex.has(e.versionId)) sourceIndex.set(e.versionId, i);
    if (e.originOnTarget && !originIndex.has(e.originOnTarget)) originIndex.set(e.originOnTarget, i);
  });
  let anchorAt = -1;
  let sourceAt = below.length;
  for (const [i, entry] of target.entries()) {
    if (entry.isDeleteMarker) continue;
    const bySource =
      entry.marker && !entry.marker.late ? sourceIndex.get(entry.marker.sourceVersionId) : undefined;
    const byOrigin = originIndex.get(entry.versionId);
    const matched = bySource ?? byOrigin;
    if (matched !== undefined) {
      anchorAt = i;
      sourceAt = matched;
      break;
    }
  }
  if (anchorAt < 0) {
    // No put below the marker is on the target (written before the rule, or deleted from the
    // source since): the newest in-order replica stands in for it, unless it is newer.
    const newest = target.findIndex((e) => !e.isDeleteMarker && e.marker && !e.marker.late);
    if (newest >= 0) {
      if (newerSourcePuts.has(target[newest]!.marker!.sourceVersionId)) {
        return { kind: 'late', why: 'a newer source version is already on the target' };
      }
      anchorAt = newest;
      const firstPut = below.findIndex((e) => !e.isDeleteMarker);
      sourceAt = firstPut < 0 ? below.length : firstPut;
    }
  }
  const rank = 1 + below.slice(0, sourceAt).filter((e) => e.isDeleteMarker).length;
  const above = anchorAt < 0 ? target : target.slice(0, anchorAt);
  // Oldest first from just above the anchor: the run of delete markers this one belongs to.
  const upward = [...above].reverse();
  let run = 0;
  let rankEntry: TargetEntry | undefined;
  for (const entry of upward) {
    if (entry.isDeleteMarker) {
      run++;
      if (run === rank) rankEntry = entry;
      continue;
    }
    if (!entry.marker || entry.marker.late) continue; // not ours, or covered by a restore
    break;
  }
  if (rankEntry) return { kind: 'found', entry: rankEntry };
  const newer = above.some((e) => !e.isDeleteMarker && e.marker && !e.marker.late);
  if (newer) return { kind: 'late', why: 'a newer source version is already on the target' };
  return { kind: 'append' };
}

/**
 * Where one journal change belongs in a key's version history on the target, judged from
 * both sites' whole histories rather than from the target's latest version. These rules
 * make every put and delete marker idempotent (a re-executed or redelivered change is
 * recognised and changes nothing) and keep the target in the **source's** order (the order
 * of ListObjectVersions on the source), which is not always the journal's: concurrent
 * writers to one key can finish, be journaled and be sequenced in different orders.
 * Pure functions over listed entries; the activities do the listing (target-state.ts).
 *
 * The model: the target's history is a copy of a prefix of the source's history (replicated
 * entries only). To apply change X, find the anchor (the newest target replica whose source
 * version the source still lists); if X is newer than the anchor on the source, the source
 * entries after the anchor up to X form the segment to bring over, in source order: delete
 * markers already above the anchor count as its first delete markers, versions already
 * journaled (pending in the workflow's queue) or, once an anchor exists, any version of a
 * rule without tag conditions the activity does not check, are copied ahead of their own
 * journal entry, which then finds them. If X is older than the anchor, it is either found
 * below it (a duplicate) or late.
 *
 * Facts they rest on:
 * - a replica names its source version (and journal sequence: "null" versions, which an
 *   unversioned or suspended bucket overwrites in place, are told apart by it);
 * - a key's changes are applied one at a time (one workflow per key and site);
 * - delete markers carry no metadata: one is identified by its position, as the n-th delete
 *   marker above the replica of the source version below it, n counted on the source.
 */
import type { PendingChange } from '../shared/replication-task';
import type { ReplicaMarker } from './replica-metadata';

export type { PendingChange };
import type { VersionEntry } from './version-history';
import { NULL_VERSION_ID } from '../shared/s3-names';

/** A target entry with its replica marker: `null` for versions this engine did not write. */
export interface TargetEntry extends VersionEntry {
  marker?: ReplicaMarker | null;
  /** A local restore copy (two-way): when the version it copies was written. */
  writtenAt?: Date;
}

/** A source entry; for a version that is itself a replica of a target version (two-way), that version's id. */
export interface SourceEntry extends VersionEntry {
  originOnTarget?: string;
}

export interface ChangeRef {
  versionId: string;
  operation: 'put' | 'delete-marker';
  sequence: string;
}

/** Same source version: by version id, and for "null" versions by journal sequence. */
export function replicates(
  marker: ReplicaMarker,
  change: Pick<ChangeRef, 'versionId' | 'sequence'>,
): boolean {
  if (change.versionId === NULL_VERSION_ID) {
    return marker.sourceVersionId === NULL_VERSION_ID && marker.sequence === change.sequence;
  }
  return marker.sourceVersionId === change.versionId;
}

/** One source entry to bring over, oldest first; the change itself is the last. */
export interface SegmentEntry {
  versionId: string;
  isDeleteMarker: boolean;
  /** The change being applied. */
  isChange: boolean;
  /** Its journal entry waits in the workflow's queue. */
  pending?: PendingChange;
  /** May be applied without its journal entry (see planSync's `catchUpUnknown`). */
  applicable: boolean;
}

export type SyncPlan =
  | { kind: 'found'; entry: TargetEntry }
  /** Its replica is there but is the latest although it was inserted late: restore what was above. */
  | { kind: 'found-needs-restore'; entry: TargetEntry; restoreFrom?: TargetEntry }
  /** The source no longer lists the change (deleted since). */
  | { kind: 'gone' }
  /**
   * The target holds something newer than this change on the source; `lastWriterWins`: a
   * newer write made on the target itself (two-way), which stays the latest.
   */
  | { kind: 'late'; why: string; lastWriterWins?: boolean }
  /**
   * Bring the segment over in order. `targetDeleteMarkers` delete markers already sit above
   * the anchor: the segment's first delete markers, already applied.
   */
  | { kind: 'sync'; segment: SegmentEntry[]; targetDeleteMarkers: number; anchor?: TargetEntry }
  | { kind: 'need-more-source' }
  | { kind: 'need-more-target' };

export interface SyncInput {
  change: ChangeRef;
  /** Source history, newest first; `sourceComplete` when listed to the end. */
  source: SourceEntry[];
  sourceComplete: boolean;
  /** Target history, newest first, markers resolved; `targetComplete` when listed to the end. */
  target: TargetEntry[];
  targetComplete: boolean;
  pending: PendingChange[];
  replicateDeleteMarkers: boolean;
  /**
   * Whether source entries without a journal entry in the queue may be applied ahead of it
   * (the rule is a configured one, its tag filter is checked by the copy). Never without an
   * anchor: below the first replicated version lies what was written before the rule.
   */
  catchUpUnknown: boolean;
  /**
   * Whether, with no anchor, the versions below the change that were written before the rule
   * are brought over too (a backfill covers the key): the target then starts with the
   * source's whole history, in order, whichever of the backfill and live traffic comes first.
   */
  catchUpExisting?: boolean;
  /**
   * Two-way replication: the destination is also a source of this bucket, so a write there
   * the source has not seen yet competes with the change. The later write (LastModified;
   * on a tie, the site whose name sorts last) stays latest on both sites.
   */
  lastWriterWins?: { sourceSite: string; targetSite: string };
}

const isChangeEntry = (e: VersionEntry, change: ChangeRef) =>
  e.versionId === change.versionId && e.isDeleteMarker === (change.operation === 'delete-marker');

/**
 * Decides how to apply a change that is not a "null" version (see nullPlacement). May ask
 * for more of either history first; the caller lists another page and asks again.
 */
export function planSync(input: SyncInput): SyncPlan {
  const { change, source, target } = input;
  const at = source.findIndex((e) => isChangeEntry(e, change));
  if (at < 0) return input.sourceComplete ? { kind: 'gone' } : { kind: 'need-more-source' };

  const position = new Map<string, number>();
  const originPosition = new Map<string, number>();
  source.forEach((e, i) => {
    if (e.isDeleteMarker) return;
    if (!position.has(e.versionId)) position.set(e.versionId, i);
    if (e.originOnTarget && !originPosition.has(e.originOnTarget)) originPosition.set(e.originOnTarget, i);
  });

  // The anchor: newest target version whose source version the source lists (newest first).
  let anchorAt = -1;
  let anchorSource = -1;
  for (const [i, entry] of target.entries()) {
    if (entry.isDeleteMarker) continue;
    const marker = entry.marker;
    if (change.operation === 'put' && marker && replicates(marker, change)) {
      if (marker.late && i === 0) return { kind: 'found-needs-restore', entry, restoreFrom: target[1] };
      return { kind: 'found', entry };
    }
    let sourceAt: number | undefined;
    if (marker && !marker.late && marker.sourceVersionId !== NULL_VERSION_ID) {
      sourceAt = position.get(marker.sourceVersionId);
      // Not listed yet: the source may list it further down.
      if (sourceAt === undefined && !input.sourceComplete) return { kind: 'need-more-source' };
    } else if (!marker) {
      sourceAt = originPosition.get(entry.versionId);
    }
    if (sourceAt === undefined) continue; // late insert, "null" version, or its source version is gone
    anchorAt = i;
    anchorSource = sourceAt;
    break;
  }
  if (anchorAt < 0 && !input.targetComplete) return { kind: 'need-more-target' };
  const fromTheBottom = anchorAt < 0 && input.catchUpUnknown && input.catchUpExisting === true;
  // From the bottom means knowing where the bottom is.
  if (fromTheBottom && !input.sourceComplete) return { kind: 'need-more-source' };

  if (anchorAt >= 0 && anchorSource < at) {
    // The anchor is newer than the change on the source: the change is below it, or late.
    return placeBelowAnchor(input, at);
  }

  const pendingById = new Map<string, PendingChange>();
  for (const p of input.pending) pendingById.set(`${p.operation}\u0000${p.versionId}`, p);
  // Oldest first: from just above the anchor (or the bottom) up to the change.
  const newerThanAnchor = source.slice(at, anchorAt >= 0 ? anchorSource : source.length).reverse();
  const segment: SegmentEntry[] = [];
  for (const e of newerThanAnchor) {
    if (e.isDeleteMarker && !input.replicateDeleteMarkers) continue;
    if (!e.isDeleteMarker && e.versionId === NULL_VERSION_ID) continue; // null versions follow their own entries
    const isChange = isChangeEntry(e, change);
    const pending = isChange
      ? undefined
      : pendingById.get(`${e.isDeleteMarker ? 'delete-marker' : 'put'}\u0000${e.versionId}`);
    segment.push({
      versionId: e.versionId,
      isDeleteMarker: e.isDeleteMarker,
      isChange,
      ...(pending ? { pending } : {}),
      applicable:
        isChange || pending !== undefined || (input.catchUpUnknown && anchorAt >= 0) || fromTheBottom,
    });
  }
  const above = anchorAt >= 0 ? target.slice(0, anchorAt) : target;
  const newerThere = input.lastWriterWins && newerWriteOnTarget(input, at, above, segment);
  if (newerThere) return { kind: 'late', why: newerThere, lastWriterWins: true };
  return {
    kind: 'sync',
    segment,
    targetDeleteMarkers: above.filter((e) => e.isDeleteMarker).length,
    ...(anchorAt >= 0 ? { anchor: target[anchorAt] } : {}),
  };
}

/**
 * Two-way: the target's latest, above the anchor, is a write the source has not seen (a
 * version this engine did not write, or a delete marker beyond those the segment accounts
 * for) and it is newer than the change: the reason the change must not become the latest.
 */
function newerWriteOnTarget(
  input: SyncInput,
  at: number,
  above: TargetEntry[],
  segment: SegmentEntry[],
): string | undefined {
  const rule = input.lastWriterWins!;
  const latest = above[0];
  const change = input.source[at];
  if (!latest || !change) return undefined;
  if (latest.isDeleteMarker) {
    const markersAbove = above.filter((e) => e.isDeleteMarker).length;
    const markersInSegment = segment.filter((e) => e.isDeleteMarker && !e.isChange).length;
    if (markersAbove <= markersInSegment) return undefined; // replicated from the source
  } else if (latest.marker !== null) {
    return undefined; // a replica (of this source, or restored): not a competing write
  }
  // A restore copy stands for the write it copies, not for the moment it was copied.
  const theirs = (latest.writtenAt ?? latest.lastModified)?.getTime();
  const ours = change.lastModified?.getTime();
  if (theirs === undefined || ours === undefined) return undefined;
  const changeWins = ours > theirs || (ours === theirs && rule.sourceSite > rule.targetSite);
  if (changeWins) return undefined;
  return `last writer wins: site ${rule.targetSite} holds a newer write (${latest.isDeleteMarker ? 'a delete marker' : `version ${latest.versionId}`} at ${new Date(theirs).toISOString()}) than this change (${new Date(ours).toISOString()} on ${rule.sourceSite})`;
}

/**
 * A change older than the anchor: a put is found by its marker anywhere below; a delete
 * marker by its rank above the newest replica of a source version below it.
 */
function placeBelowAnchor(input: SyncInput, at: number): SyncPlan {
  const { change, source, target } = input;
  const late: SyncPlan = { kind: 'late', why: 'a newer source version is already on the target' };
  if (change.operation === 'put') {
    const found = target.find((e) => e.marker && replicates(e.marker, change));
    if (found) return { kind: 'found', entry: found };
    if (!input.targetComplete) return { kind: 'need-more-target' };
    // Two-way: the winner of a concurrent write came back to this change's site before the
    // change went out; the losing put is still kept on both sites, below the winner.
    if (input.lastWriterWins)
      return {
        kind: 'late',
        why: 'last writer wins: a later write from the other site is already the latest on both',
        lastWriterWins: true,
      };
    return late;
  }
  const below = source.slice(at + 1);
  const belowPosition = new Map<string, number>();
  below.forEach((e, i) => {
    if (!e.isDeleteMarker && !belowPosition.has(e.versionId)) belowPosition.set(e.versionId, i);
  });
  for (const [i, entry] of target.entries()) {
    const marker = entry.marker;
    if (entry.isDeleteMarker || !marker || marker.late) continue;
    const sourceAt = belowPosition.get(marker.sourceVersionId);
    if (sourceAt === undefined) continue;
    const rank = 1 + below.slice(0, sourceAt).filter((e) => e.isDeleteMarker).length;
    // Oldest first from just above that replica: the run of delete markers this one belongs to.
    let run = 0;
    for (const e of target.slice(0, i).reverse()) {
      if (!e.isDeleteMarker) {
        if (!e.marker || e.marker.late) continue;
        break;
      }
      if (++run === rank) return { kind: 'found', entry: e };
    }
    return late;
  }
  if (!input.targetComplete || !input.sourceComplete) return { kind: 'need-more-target' };
  return late;
}

/**
 * "null" versions (unversioned or suspended buckets) are overwritten in place on the source,
 * which keeps only the latest: a null put is found by its sequence, otherwise appended (the
 * copy skips it if the source has overwritten it since); a null delete marker is applied
 * unless the target's latest already is a delete marker.
 */
export function nullPlacement(change: ChangeRef, target: TargetEntry[]): SyncPlan {
  if (change.operation === 'delete-marker') {
    const latest = target[0];
    return latest?.isDeleteMarker
      ? { kind: 'found', entry: latest }
      : {
          kind: 'sync',
          segment: [{ versionId: NULL_VERSION_ID, isDeleteMarker: true, isChange: true, applicable: true }],
          targetDeleteMarkers: 0,
        };
  }
  const found = target.find((e) => e.marker && replicates(e.marker, change));
  if (found) return { kind: 'found', entry: found };
  return {
    kind: 'sync',
    segment: [{ versionId: NULL_VERSION_ID, isDeleteMarker: false, isChange: true, applicable: true }],
    targetDeleteMarkers: 0,
  };
}

/** What applying one segment entry did. */
export type StepResult =
  | { applied: true; targetVersionId?: string; bytes?: number; detail?: string }
  /** Nothing written, and why ("not replicated: …"). */
  | { applied: false; detail: string };

export interface SegmentEffects {
  deleteMarker(): Promise<string | undefined>;
  copy(entry: SegmentEntry): Promise<StepResult>;
}

export interface SegmentOutcome {
  /** What happened to the change itself. */
  change: { detail?: string; targetVersionId?: string; bytes: number };
  /** Queued changes applied (or found applied) with it. */
  ahead: Array<{ pending: PendingChange; detail?: string; targetVersionId?: string }>;
}

/**
 * Brings a segment over in order: its first delete markers are those already above the
 * anchor (counted, not written again); later ones are written; versions are copied. A
 * version that is not replicated (gone, a replica, tags that do not match) writes nothing
 * and leaves the count as it was; one that is copied goes above any delete marker left.
 */
export async function runSegment(
  segment: SegmentEntry[],
  targetDeleteMarkers: number,
  effects: SegmentEffects,
): Promise<SegmentOutcome> {
  let alreadyThere = targetDeleteMarkers;
  const outcome: SegmentOutcome = { change: { bytes: 0, detail: 'already replicated' }, ahead: [] };
  const record = (
    entry: SegmentEntry,
    result: { detail?: string; targetVersionId?: string; bytes?: number },
  ) => {
    if (entry.isChange) outcome.change = { ...result, bytes: result.bytes ?? 0 };
    else if (entry.pending) outcome.ahead.push({ pending: entry.pending, ...result });
  };
  for (const entry of segment) {
    if (entry.isDeleteMarker) {
      if (alreadyThere > 0) {
        alreadyThere--;
        record(entry, { detail: 'already replicated' });
      } else if (entry.applicable) {
        record(entry, { targetVersionId: await effects.deleteMarker() });
      }
      continue;
    }
    if (!entry.applicable) continue;
    const result = await effects.copy(entry);
    if (result.applied) alreadyThere = 0;
    record(entry, result);
  }
  return outcome;
}

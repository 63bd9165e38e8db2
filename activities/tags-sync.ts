import { createHash } from 'node:crypto';
import { MARKER_TAG, type Tag } from '../shared/replica-marker';
import type { TagsSide } from '../shared/replication-task';

/**
 * Two-way tag convergence (docs/DESIGN.md, "Tags in two-way replication"). S3 keeps no time
 * of a tag change and has no conditional tag write, so the pair carries stamps: digests of
 * the tags both sides last agreed on (in the replica's metadata when it is copied, then in a
 * tag on each side at every sync). A side whose tags no longer match its stamp was changed
 * since; when only one side was, it wins whatever the order of the events; when both were,
 * the later change (by journal event time, ties to the site whose name sorts last) wins,
 * once the key workflow has seen both sides' events.
 */
export const TAGS_STAMP_TAG = 'scal-crr-tags';
/** User-metadata field of a replica: the digest of its source's tags when it was copied. */
export const COPY_STAMP_FIELD = 'scal-crr-tags';

export type { TagsSide };

/** A tag change as its journal event told it. */
export interface TagsChange {
  side: TagsSide;
  /** The journal event's time (ISO 8601). */
  at: string;
}

export type TagsDecision =
  | { action: 'in-sync'; restamp: Record<TagsSide, boolean> }
  | { action: 'copy'; from: TagsSide; reason: string }
  /** Both sides changed and only this side's time is known: wait for the other's event. */
  | { action: 'wait' }
  /**
   * Both sides changed and both times are known: wait a moment for newer changes first. A
   * side's present tags may come from a change made just before the read whose event is still
   * on its way (the site's notification, Kafka, the populator: seconds), and settling on the
   * times held would then copy the other side over the latest change of all. `stale`: even the
   * newer of the changes held is old, so newer ones may be held up longer (a key workflow stuck
   * on a dead worker refuses signals until its workflow task times out).
   */
  | { action: 'wait-newer'; stale: boolean };

/** The tags a user set: without the replica marker and the stamp. */
export function userTagsOf(tags: readonly Tag[]): Tag[] {
  return tags.filter((t) => t.Key !== MARKER_TAG && t.Key !== TAGS_STAMP_TAG);
}

/** A short digest of a tag set, independent of the order of its tags. */
export function tagsDigest(tags: readonly Tag[]): string {
  const sorted = userTagsOf(tags)
    .map((t) => [t.Key, t.Value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('base64url').slice(0, 22);
}

export interface TagsState {
  source: readonly Tag[];
  target: readonly Tag[];
  /** Each side's stamp tag: the digest of the tags the pair agreed on at the last sync. */
  sourceStamp?: string;
  targetStamp?: string;
  /** The replica's metadata stamp: the digest of the source's tags when it was copied. */
  copyStamp?: string;
}

/**
 * What to do for the change `change` (this task's event), knowing `other` (the other side's
 * change, when the key workflow holds one not yet applied). `force`: stop waiting for the
 * other side's event or for newer changes (its bound passed) and settle on what is held.
 * `stale`: the changes held are old (see heldChangesAreStale), which makes a conflict's wait
 * for newer changes longer.
 *
 * A side changed since the pair last agreed when its tags differ from its baseline: its own
 * stamp tag, or the copy stamp before any sync (a user replacing a version's tags removes
 * its stamp tag, which the copy stamp then stands for).
 */
export function decideTagsSync(
  state: TagsState,
  change: TagsChange,
  other: TagsChange | undefined,
  sites: { source: string; target: string },
  force = false,
  stale = false,
): TagsDecision {
  const source = tagsDigest(state.source);
  const target = tagsDigest(state.target);
  if (source === target)
    return {
      action: 'in-sync',
      restamp: { source: state.sourceStamp !== source, target: state.targetStamp !== target },
    };
  const sourceBaseline = state.sourceStamp ?? state.copyStamp;
  const targetBaseline = state.targetStamp ?? state.copyStamp;
  const unknown = sourceBaseline === undefined && targetBaseline === undefined;
  const sourceChanged = source !== sourceBaseline;
  const targetChanged = target !== targetBaseline;
  if (!unknown && sourceChanged && !targetChanged)
    return { action: 'copy', from: 'source', reason: 'only the source changed' };
  if (!unknown && targetChanged && !sourceChanged)
    return { action: 'copy', from: 'target', reason: 'only the replica changed' };
  if (other && other.side !== change.side) {
    if (!force) return { action: 'wait-newer', stale };
    const winner = laterChange(change, other, sites);
    return { action: 'copy', from: winner.side, reason: `both changed: the later (${winner.at}) wins` };
  }
  // Without any stamp nothing tells which side changed: the change at hand wins, as it would
  // have if the events had been applied one by one.
  if (unknown) return { action: 'copy', from: change.side, reason: 'no stamp' };
  if (force)
    return { action: 'copy', from: change.side, reason: 'both changed: the other change never came' };
  return { action: 'wait' };
}

function laterChange(a: TagsChange, b: TagsChange, sites: { source: string; target: string }): TagsChange {
  const ta = Date.parse(a.at);
  const tb = Date.parse(b.at);
  if (ta !== tb) return ta > tb ? a : b;
  // Ties go to the site whose name sorts last, as for puts (activities/placement.ts).
  return sites[a.side] > sites[b.side] ? a : b;
}

/**
 * How old the newer of the two sides' changes held may be when a conflict is settled on their
 * times. A change's event normally reaches its key workflow within seconds; one held longer
 * means the workflow was held up, and later changes of either side may still be on their way.
 */
export const STALE_CHANGES_MS = 15_000;

/** Whether even the newer of the changes held happened more than STALE_CHANGES_MS before `now`. */
export function heldChangesAreStale(change: TagsChange, other: TagsChange | undefined, now: number): boolean {
  const newest = Math.max(Date.parse(change.at), other ? Date.parse(other.at) : -Infinity);
  return now - newest > STALE_CHANGES_MS;
}

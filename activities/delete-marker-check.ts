/**
 * Delete markers cannot be fenced like PUTs (write-fence.ts): S3 has no conditional
 * DeleteObject that creates a marker (MinIO ignores If-Match on it), so a marker lands on
 * top of whatever the key's history holds when the DELETE arrives. An attempt given up on
 * (a worker frozen past its workflow task, then resumed with listings answered before the
 * takeover still in its sockets) would otherwise put a stale marker above versions another
 * worker replicated meanwhile, hiding the object on the target. Two guards instead:
 *
 * - before: the view of the target the marker is planned from must be recent, far younger
 *   than the workflow task timeout another worker must wait out before it takes the key
 *   over; an older view is read again;
 * - after: the attempt reads where its marker landed. One that is not directly above the
 *   entry it was planned on is the attempt's own stray write: the attempt removes that
 *   marker version (the target's history is as before) and plans again. Where the target's
 *   policy denies version deletes, it puts the entry below back on top instead, so that the
 *   latest is right although the history keeps the stray marker.
 */
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorCode } from '../clients/s3-errors';
import { keyHistory, type VersionEntry } from './version-history';
import { TargetChanged } from './write-fence';

/** The oldest view of the target a delete marker may be planned from (workflow tasks time out after 30 s). */
export const FRESH_VIEW_MS = 5_000;

/** What an attempt knows of the target's latest entry, and since when (the request that showed it was sent). */
export interface TargetView {
  /**
   * `performance.now()`: monotonic, so a step of the wall clock neither hides an old view nor
   * ages a new one; it runs on while the process is stopped (SIGSTOP), which is the point.
   */
  at: number;
  /** The latest entry's version id; undefined when the key had no entries. */
  latestId: string | undefined;
}

/** Throws TargetChanged (the caller plans again) when `view` is too old to put a marker on. */
export function assertFreshView(view: TargetView, now = performance.now()): void {
  const age = now - view.at;
  if (age > FRESH_VIEW_MS) {
    throw new TargetChanged(
      `the target's history was read ${Math.round(age / 1000)} s ago, too long to put a delete marker on (the attempt may have been frozen or given up on)`,
    );
  }
}

export type MarkerPlacement =
  /** Directly above the entry it was planned on, and the latest. */
  | 'placed'
  /** Directly above the entry it was planned on, with newer entries above it (another writer since). */
  | 'covered'
  /** Something else is directly below it: another writer got there first. */
  | 'misplaced'
  /** Not in the history read. */
  | 'missing';

/** Where marker `markerId` sits in `history` (newest first), planned on top of `expectedBelow`. */
export function judgeMarkerPlacement(
  history: readonly Pick<VersionEntry, 'versionId'>[],
  markerId: string,
  expectedBelow: string | undefined,
): MarkerPlacement {
  const at = history.findIndex((e) => e.versionId === markerId);
  if (at < 0) return 'missing';
  if (history[at + 1]?.versionId !== expectedBelow) return 'misplaced';
  return at === 0 ? 'placed' : 'covered';
}

/** History entries read at most, looking for the marker (writers above it are few). */
const CHECK_DEPTH = 64;

/** The key's history down to the entry below `markerId` (or CHECK_DEPTH entries). */
async function historyAround(
  s3: S3Client,
  bucket: string,
  key: string,
  markerId: string,
): Promise<VersionEntry[]> {
  const read: VersionEntry[] = [];
  let found = false;
  for await (const entry of keyHistory(s3, bucket, key, 16)) {
    read.push(entry);
    if (found || read.length >= CHECK_DEPTH) break;
    found = entry.versionId === markerId;
  }
  return read;
}

export interface MarkerCheck {
  placement: MarkerPlacement;
  /** The entry directly below the marker. */
  below?: VersionEntry;
  /** A misplaced marker was removed (false: the target refused the version delete). */
  removed?: boolean;
}

/**
 * Checks where the marker just written landed; removes it when misplaced. The caller plans
 * again unless it is 'placed'. A target whose policy denies version deletes (docs/SECURITY.md)
 * keeps the stray marker: `removed` is false and the caller restores the entry below on top.
 */
export async function checkMarkerPlacement(
  s3: S3Client,
  bucket: string,
  key: string,
  markerId: string,
  expectedBelow: string | undefined,
): Promise<MarkerCheck> {
  const history = await historyAround(s3, bucket, key, markerId);
  const placement = judgeMarkerPlacement(history, markerId, expectedBelow);
  const below = history[history.findIndex((e) => e.versionId === markerId) + 1];
  const found: MarkerCheck = { placement, ...(placement !== 'missing' && below ? { below } : {}) };
  if (placement !== 'misplaced') return found;
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: markerId }));
    return { ...found, removed: true };
  } catch (err) {
    if (errorCode(err) !== 'AccessDenied') throw err;
    return { ...found, removed: false };
  }
}

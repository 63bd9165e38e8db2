import {
  placeDeleteMarker,
  placePut,
  placePutAfterDeleteMarkers,
  PutScan,
  sourceDeleteMarkersBetween,
  type TargetEntry,
} from '../../activities/placement';
import type { VersionEntry } from '../../activities/version-history';

// Histories are written oldest first (as one reads them) and reversed into S3's newest-first order.
type Spec = string; // "R(v1@10)" replica of v1 with sequence 10, "R(v1@10,late)", "DM", "F" (foreign)

let counter = 0;
function target(...specs: Spec[]): TargetEntry[] {
  return specs
    .map((spec): TargetEntry => {
      const versionId = `t${++counter}`;
      if (spec === 'DM') return { versionId, isDeleteMarker: true, isLatest: false };
      if (spec === 'F') return { versionId, isDeleteMarker: false, isLatest: false, marker: null };
      const m = /^R\((\w+)@(\d+)(,late)?\)$/.exec(spec);
      if (!m) throw new Error(`bad spec ${spec}`);
      return {
        versionId,
        isDeleteMarker: false,
        isLatest: false,
        marker: {
          sourceVersionId: m[1]!,
          sequence: m[2]!,
          sourceSite: 'src',
          ...(m[3] ? { late: true } : {}),
        },
      };
    })
    .reverse();
}

/** Source history oldest first: "v1", "DM:d1". */
function source(...specs: string[]): VersionEntry[] {
  return specs
    .map((s) =>
      s.startsWith('DM:')
        ? { versionId: s.slice(3), isDeleteMarker: true, isLatest: false }
        : { versionId: s, isDeleteMarker: false, isLatest: false },
    )
    .reverse();
}

function scanPut(history: TargetEntry[], versionId: string, sequence: string) {
  const scan = new PutScan({ versionId, sequence });
  for (const entry of history) if (scan.feed(entry)) break;
  return scan;
}

describe('placing a put on the target', () => {
  test('an empty target takes the put', () => {
    expect(placePut(scanPut(target(), 'v1', '10'), true)).toEqual({ kind: 'append' });
  });

  test('the next version goes above the previous one', () => {
    expect(placePut(scanPut(target('R(v1@10)'), 'v2', '20'), true)).toEqual({ kind: 'append' });
  });

  test('a re-executed put is found as the latest', () => {
    const history = target('R(v1@10)', 'R(v2@20)');
    const placed = placePut(scanPut(history, 'v2', '20'), true);
    expect(placed).toMatchObject({ kind: 'found', entry: { versionId: history[0]!.versionId } });
  });

  test('a redelivered put is found below newer versions and delete markers (no resurrection)', () => {
    const history = target('R(v1@10)', 'DM', 'R(v2@30)', 'DM');
    const placed = placePut(scanPut(history, 'v1', '10'), true);
    expect(placed).toMatchObject({ kind: 'found', entry: { versionId: history[3]!.versionId } });
  });

  test('a put found deep in a long history, below a late insert and its restore', () => {
    const history = target('R(v1@10)', 'R(v3@30)', 'R(v2@20,late)', 'R(v3@30)', 'R(v4@40)');
    expect(placePut(scanPut(history, 'v1', '10'), true)).toMatchObject({ kind: 'found' });
    expect(placePut(scanPut(history, 'v2', '20'), true)).toMatchObject({ kind: 'found' });
    expect(placePut(scanPut(history, 'v5', '50'), true)).toEqual({ kind: 'append' });
  });

  test('a put never seen, older than what the target holds, is late', () => {
    const placed = placePut(scanPut(target('R(v1@10)', 'R(v3@30)'), 'v2', '20'), true);
    expect(placed.kind).toBe('late');
  });

  test('a late insert left as the latest (the retry stopped before restoring) asks for the restore', () => {
    const history = target('R(v1@10)', 'R(v3@30)', 'R(v2@20,late)');
    expect(placePut(scanPut(history, 'v2', '20'), true)).toMatchObject({ kind: 'found-needs-restore' });
  });

  test('null versions are told apart by sequence, not by version id', () => {
    const history = target('R(null@10)', 'R(null@20)');
    expect(placePut(scanPut(history, 'null', '20'), true)).toMatchObject({ kind: 'found' });
    expect(placePut(scanPut(history, 'null', '10'), true)).toMatchObject({ kind: 'found' });
    expect(placePut(scanPut(history, 'null', '30'), true)).toEqual({ kind: 'append' });
  });

  test('versions the engine did not write are ignored', () => {
    expect(placePut(scanPut(target('R(v1@10)', 'F'), 'v2', '20'), true)).toEqual({ kind: 'append' });
  });

  test('delete markers above the anchor: the source decides whether they are older than the put', () => {
    const placed = placePut(scanPut(target('R(v1@10)', 'DM'), 'v2', '30'), true);
    expect(placed).toEqual({
      kind: 'count-source-delete-markers',
      anchorSourceVersionId: 'v1',
      targetDeleteMarkers: 1,
    });
    // put v1, DELETE, put v2: the marker is older than v2, which goes on top.
    const inOrder = sourceDeleteMarkersBetween(source('v1', 'DM:d1', 'v2'), 'v2', 'v1');
    expect(inOrder).toBe(1);
    expect(placePutAfterDeleteMarkers(1, inOrder!)).toEqual({ kind: 'append' });
    // put v1, put v2 (failed, now retried), DELETE: the marker on the target is newer than v2.
    const retried = sourceDeleteMarkersBetween(source('v1', 'v2', 'DM:d1'), 'v2', 'v1');
    expect(retried).toBe(0);
    expect(placePutAfterDeleteMarkers(1, retried!).kind).toBe('late');
  });

  test('without delete-marker replication, markers on the target do not matter', () => {
    expect(placePut(scanPut(target('R(v1@10)', 'DM'), 'v2', '30'), false)).toEqual({ kind: 'append' });
  });

  test('a put gone from the source is reported, not counted', () => {
    expect(sourceDeleteMarkersBetween(source('v1', 'DM:d1'), 'v2', 'v1')).toBeUndefined();
  });
});

describe('placing a delete marker on the target', () => {
  test('the first delete marker above its version is appended once, then found', () => {
    const below = source('v1');
    expect(placeDeleteMarker(below, target('R(v1@10)'))).toEqual({ kind: 'append' });
    const after = target('R(v1@10)', 'DM');
    expect(placeDeleteMarker(below, after)).toMatchObject({
      kind: 'found',
      entry: { versionId: after[0]!.versionId },
    });
  });

  test('put v1, DELETE, put v2 on the target: the marker is found between them', () => {
    const history = target('R(v1@10)', 'DM', 'R(v2@30)');
    expect(placeDeleteMarker(source('v1'), history)).toMatchObject({
      kind: 'found',
      entry: { versionId: history[1]!.versionId },
    });
  });

  test('consecutive delete markers are counted (S3 keeps each; some servers collapse them)', () => {
    // Source: v1, d1, d2. The target holds one: d2 ranks second above v1.
    expect(placeDeleteMarker(source('v1', 'DM:d1'), target('R(v1@10)', 'DM'))).toEqual({ kind: 'append' });
    expect(placeDeleteMarker(source('v1'), target('R(v1@10)', 'DM'))).toMatchObject({ kind: 'found' });
    expect(placeDeleteMarker(source('v1', 'DM:d1'), target('R(v1@10)', 'DM', 'DM'))).toMatchObject({
      kind: 'found',
    });
  });

  test('a delete marker older than a version on the target is late', () => {
    // Source: v1, d1, v2; the target has v1 and v2 but not d1 (it failed, and is retried now).
    expect(placeDeleteMarker(source('v1'), target('R(v1@10)', 'R(v2@30)')).kind).toBe('late');
  });

  test('the anchor is the newest replicated put below the marker', () => {
    // Source: v1, d1, v2 (never replicated), d2. The target holds v1, d1: d2 ranks second above v1.
    const below = source('v1', 'DM:d1', 'v2');
    expect(placeDeleteMarker(below, target('R(v1@10)', 'DM'))).toEqual({ kind: 'append' });
    expect(placeDeleteMarker(below, target('R(v1@10)', 'DM', 'DM'))).toMatchObject({ kind: 'found' });
  });

  test('without a replicated put below it, the newest replica stands in unless it is newer', () => {
    // Source: v1 (deleted from the source since), d1. The target holds v1.
    expect(placeDeleteMarker([], target('R(v1@10)'))).toEqual({ kind: 'append' });
    expect(placeDeleteMarker([], target('R(v1@10)', 'DM'))).toMatchObject({ kind: 'found' });
    // Source: v0 (before the rule), d1 (failed, retried now), v2. The target holds v2 only.
    expect(placeDeleteMarker(source('v0'), target('R(v2@30)'), new Set(['v2'])).kind).toBe('late');
  });

  test('a marker on a key with no version replicated goes on an empty history once', () => {
    expect(placeDeleteMarker([], target())).toEqual({ kind: 'append' });
    expect(placeDeleteMarker([], target('DM'))).toMatchObject({ kind: 'found' });
  });

  test('a source version that is itself a replica of a target version anchors on that version (no bounce)', () => {
    const original: TargetEntry = {
      versionId: 'orig-1',
      isDeleteMarker: false,
      isLatest: false,
      marker: null,
    };
    const dm: TargetEntry = { versionId: 'dm-1', isDeleteMarker: true, isLatest: true };
    const below = [
      { versionId: 'replica-of-orig-1', isDeleteMarker: false, isLatest: false, originOnTarget: 'orig-1' },
    ];
    expect(placeDeleteMarker(below, [dm, original])).toMatchObject({
      kind: 'found',
      entry: { versionId: 'dm-1' },
    });
    expect(placeDeleteMarker(below, [original])).toEqual({ kind: 'append' });
  });
});

/**
 * The per-key checker itself: every kind of discrepancy it must report, on synthetic
 * histories (no stack needed), so that a green fault run means the check ran, not that it
 * could not see.
 */
import type { ListedVersion, ReplicaIdentity } from '../support/ordered-versions';
import { compareKey, hasDiscrepancy } from '../support/replica-check';

const key = 'k';
const V = (id: string): ListedVersion => ({ key, kind: 'version', versionId: id, isLatest: false });
const DM = (id: string): ListedVersion => ({ key, kind: 'delete-marker', versionId: id, isLatest: false });

/** A target history from a compact description: `R:v1` replica of v1, `DM`, `X` unmarked. */
function target(...items: string[]): { history: ListedVersion[]; ids: Map<string, ReplicaIdentity> } {
  const ids = new Map<string, ReplicaIdentity>();
  const history = items.map((item, i) => {
    const id = `t${i}`;
    if (item === 'DM') return DM(id);
    const [, source] = item.split(':');
    ids.set(`${key}\u0000${id}`, { sourceVersionId: source, userMetadata: {} });
    return V(id);
  });
  return { history, ids };
}

const check = (source: ListedVersion[], t: ReturnType<typeof target>, deleteMarkers = true) =>
  compareKey(key, source, t.history, t.ids, undefined, { deleteMarkers });

describe('per-key checker', () => {
  test('identical histories are clean', () => {
    const f = check([V('v1'), DM('d1'), V('v2')], target('R:v1', 'DM', 'R:v2'));
    expect(hasDiscrepancy(f)).toBe(false);
  });

  test('[R(v1), DM, R(v1), DM, R(v2)] for [v1, DM, v2]: one duplicate and one extra delete marker', () => {
    const f = check([V('v1'), DM('d1'), V('v2')], target('R:v1', 'DM', 'R:v1', 'DM', 'R:v2'));
    expect(f.duplicated).toEqual([{ sourceVersionId: 'v1', replicas: 2 }]);
    expect(f.extraDeleteMarkers).toBe(1);
    expect(f.missingDeleteMarkers).toBe(0);
    expect(f.lost).toEqual([]);
    expect(f.latestMismatch).toBeUndefined();
  });

  test('a duplicate PUT after a replicated delete marker: duplicate and latest mismatch', () => {
    const f = check([V('v1'), DM('d1')], target('R:v1', 'DM', 'R:v1'));
    expect(f.duplicated).toHaveLength(1);
    expect(f.latestMismatch).toMatch(/source latest is a delete marker/);
  });

  test('a lost version is reported once, without displacing the delete markers around it', () => {
    const f = check([V('v1'), DM('d1'), V('v2'), DM('d2'), V('v3')], target('R:v1', 'DM', 'DM', 'R:v3'));
    expect(f.lost).toEqual(['v2']);
    expect(f.extraDeleteMarkers).toBe(0);
    expect(f.missingDeleteMarkers).toBe(0);
  });

  test('reordered replicas', () => {
    const f = check([V('v1'), V('v2'), V('v3'), V('v4')], target('R:v1', 'R:v3', 'R:v2', 'R:v4'));
    expect(f.reordered).toBe(1);
    expect(f.latestMismatch).toBeUndefined();
  });

  test('a missing delete marker, and a wrong latest', () => {
    const f = check([V('v1'), V('v2'), DM('d1')], target('R:v1', 'R:v2'));
    expect(f.missingDeleteMarkers).toBe(1);
    expect(f.latestMismatch).toMatch(/delete marker/);
  });

  test('delete markers are not expected where the rule does not replicate them', () => {
    const f = check([V('v1'), DM('d1'), V('v2'), DM('d2')], target('R:v1', 'R:v2'), false);
    expect(hasDiscrepancy(f)).toBe(false);
    const g = check([V('v1'), DM('d1'), V('v2')], target('R:v1', 'DM', 'R:v2'), false);
    expect(g.extraDeleteMarkers).toBe(1);
  });

  test('target versions without a marker, or replicating nothing the source has, are unexpected', () => {
    const f = check([V('v1')], target('R:v1', 'R:gone', 'X'));
    expect(f.unexpected).toHaveLength(2);
  });

  test('an older version on top is a latest mismatch', () => {
    const f = check([V('v1'), V('v2')], target('R:v1', 'R:v2', 'R:v1'));
    expect(f.latestMismatch).toMatch(/target latest replicates v1/);
    expect(f.duplicated).toHaveLength(1);
  });

  test('several replicas of a "null" version are one per overwrite when their sequences differ', () => {
    const ids = new Map<string, ReplicaIdentity>([
      [`${key}\u0000t0`, { sourceVersionId: 'null', sequence: '1', userMetadata: {} }],
      [`${key}\u0000t1`, { sourceVersionId: 'null', sequence: '2', userMetadata: {} }],
    ]);
    const clean = compareKey(key, [V('null')], [V('t0'), V('t1')], ids, undefined, { deleteMarkers: true });
    expect(clean.duplicated).toEqual([]);
    ids.set(`${key}\u0000t1`, { sourceVersionId: 'null', sequence: '1', userMetadata: {} });
    const dup = compareKey(key, [V('null')], [V('t0'), V('t1')], ids, undefined, { deleteMarkers: true });
    expect(dup.duplicated).toHaveLength(1);
  });

  test('stale bytes of the latest (same version id, different ETag) are a latest mismatch', () => {
    const ids = new Map<string, ReplicaIdentity>([
      [`${key}\u0000t0`, { sourceVersionId: 'null', userMetadata: {}, etag: 'aaa' }],
    ]);
    const f = compareKey(key, [{ ...V('null'), etag: 'bbb' }], [V('t0')], ids, undefined, {
      deleteMarkers: true,
    });
    expect(f.latestMismatch).toMatch(/latest bytes differ/);
  });
});

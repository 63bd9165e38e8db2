import { assertFreshView, FRESH_VIEW_MS, judgeMarkerPlacement } from '../../activities/delete-marker-check';
import { TargetChanged } from '../../activities/write-fence';

const history = (...ids: string[]) => ids.map((versionId) => ({ versionId }));

describe('where a delete marker landed (newest first)', () => {
  test('directly above the entry it was planned on, as the latest: placed', () => {
    expect(judgeMarkerPlacement(history('dm', 'v1'), 'dm', 'v1')).toBe('placed');
  });

  test('planned on an empty key and alone in its history: placed', () => {
    expect(judgeMarkerPlacement(history('dm'), 'dm', undefined)).toBe('placed');
  });

  test('on the right entry with a newer write above it: covered (kept, planned again)', () => {
    expect(judgeMarkerPlacement(history('v3', 'dm', 'v1'), 'dm', 'v1')).toBe('covered');
  });

  test('above a version written since the attempt read the target: misplaced', () => {
    expect(judgeMarkerPlacement(history('dm', 'v3', 'dm0', 'v1'), 'dm', 'v1')).toBe('misplaced');
  });

  test("above another writer's marker of the same change: misplaced, so one of the two stays", () => {
    expect(judgeMarkerPlacement(history('mine', 'theirs', 'v1'), 'mine', 'v1')).toBe('misplaced');
    expect(judgeMarkerPlacement(history('mine', 'theirs', 'v1'), 'theirs', 'v1')).toBe('covered');
  });

  test('planned on an empty key, with an entry below it: misplaced', () => {
    expect(judgeMarkerPlacement(history('dm', 'v9'), 'dm', undefined)).toBe('misplaced');
  });

  test('not in the history read: missing', () => {
    expect(judgeMarkerPlacement(history('v3', 'v1'), 'dm', 'v1')).toBe('missing');
  });
});

describe('the view a delete marker is planned from', () => {
  test(`is used up to ${FRESH_VIEW_MS} ms old`, () => {
    expect(() => assertFreshView({ at: 1_000, latestId: 'v1' }, 1_000 + FRESH_VIEW_MS)).not.toThrow();
  });

  test('is read again when older (a frozen or given-up attempt)', () => {
    expect(() => assertFreshView({ at: 1_000, latestId: 'v1' }, 1_000 + 150_000)).toThrow(TargetChanged);
    expect(() => assertFreshView({ at: 1_000, latestId: 'v1' }, 1_001 + FRESH_VIEW_MS)).toThrow(
      /read 5 s ago/,
    );
  });
});

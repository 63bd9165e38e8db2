import {
  decideTagsSync,
  heldChangesAreStale,
  STALE_CHANGES_MS,
  TAGS_STAMP_TAG,
  tagsDigest,
  userTagsOf,
  type TagsChange,
} from '../../activities/tags-sync';
import { MARKER_TAG, type Tag } from '../../shared/replica-marker';

const tags = (o: Record<string, string>): Tag[] => Object.entries(o).map(([Key, Value]) => ({ Key, Value }));
const sites = { source: 'paris', target: 'tokyo' };
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

describe('two-way tag convergence', () => {
  const agreed = tags({ a: '1' });
  const stamp = tagsDigest(agreed);
  /** Both sides changed since they agreed on `agreed`, the target a second after the source. */
  const bothChanged = {
    source: tags({ a: 'S' }),
    target: tags({ a: 'T' }),
    sourceStamp: stamp,
    targetStamp: stamp,
  };
  const fromSource: TagsChange = { side: 'source', at: at(10) };
  const fromTarget: TagsChange = { side: 'target', at: at(11) };

  test('the digest ignores order, the marker and the stamp', () => {
    expect(tagsDigest(tags({ a: '1', b: '2' }))).toBe(tagsDigest(tags({ b: '2', a: '1' })));
    expect(
      tagsDigest([...agreed, { Key: MARKER_TAG, Value: 'x' }, { Key: TAGS_STAMP_TAG, Value: 'y' }]),
    ).toBe(stamp);
    expect(tagsDigest(tags({ a: '2' }))).not.toBe(stamp);
    expect(userTagsOf([...agreed, { Key: TAGS_STAMP_TAG, Value: 'y' }])).toEqual(agreed);
  });

  test('equal tags need nothing (an echo of our own write), only a stamp refresh when it is stale', () => {
    const change: TagsChange = { side: 'target', at: at(5) };
    expect(
      decideTagsSync(
        { source: agreed, target: agreed, sourceStamp: stamp, targetStamp: stamp },
        change,
        undefined,
        sites,
      ),
    ).toEqual({
      action: 'in-sync',
      restamp: { source: false, target: false },
    });
    expect(
      decideTagsSync({ source: agreed, target: agreed, targetStamp: 'old' }, change, undefined, sites),
    ).toEqual({
      action: 'in-sync',
      restamp: { source: true, target: true },
    });
  });

  test('the one side that changed since the stamp wins, whichever event is applied', () => {
    const changed = tags({ a: '9' });
    for (const side of ['source', 'target'] as const) {
      const event: TagsChange = { side, at: at(1) };
      expect(
        decideTagsSync({ source: changed, target: agreed, copyStamp: stamp }, event, undefined, sites),
      ).toMatchObject({
        action: 'copy',
        from: 'source',
      });
      expect(
        decideTagsSync(
          { source: agreed, target: changed, sourceStamp: stamp, copyStamp: 'older' },
          event,
          undefined,
          sites,
        ),
      ).toMatchObject({
        action: 'copy',
        from: 'target',
      });
    }
  });

  test('both changed: wait for the other side, then a moment for newer changes, then the later change wins (ties: the site sorting last)', () => {
    const state = bothChanged;
    expect(decideTagsSync(state, fromSource, undefined, sites)).toEqual({ action: 'wait' });
    // Both times known: first a moment for a newer change still on its way (as in a failing
    // run of kill-worker-two-way-tags, where the side that lost had changed 0.3 s before the read).
    expect(decideTagsSync(state, fromSource, fromTarget, sites)).toEqual({
      action: 'wait-newer',
      stale: false,
    });
    // Then (the wait's bound passed) settled on the times.
    const settle = (change: TagsChange, other: TagsChange, on = sites) =>
      decideTagsSync(state, change, other, on, true);
    expect(settle(fromSource, fromTarget)).toMatchObject({ action: 'copy', from: 'target' });
    expect(settle(fromTarget, fromSource)).toMatchObject({ action: 'copy', from: 'target' });
    const earlierTarget: TagsChange = { side: 'target', at: at(9) };
    expect(settle(earlierTarget, fromSource)).toMatchObject({ action: 'copy', from: 'source' });
    const tie: TagsChange = { side: 'target', at: at(10) };
    expect(settle(fromSource, tie)).toMatchObject({ from: 'target' }); // tokyo > paris
    expect(settle(fromSource, tie, { source: 'zurich', target: 'tokyo' })).toMatchObject({ from: 'source' });
    // A second change on the same side is no answer from the other side.
    expect(decideTagsSync(state, fromSource, { side: 'source', at: at(12) }, sites)).toEqual({
      action: 'wait',
    });
    // The wait is bounded: then the change at hand wins.
    expect(decideTagsSync(state, fromSource, undefined, sites, true)).toMatchObject({
      action: 'copy',
      from: 'source',
    });
  });

  test('a conflict held on old changes waits for newer ones, then is settled on the newest held', () => {
    // As in a failing run of kill-worker-two-way-tags: the key workflow was stuck 30 s on a dead
    // worker, holding changes from before; later ones of both sides were still on their way.
    const state = bothChanged;
    expect(decideTagsSync(state, fromSource, fromTarget, sites, false, true)).toEqual({
      action: 'wait-newer',
      stale: true,
    });
    // Past its bound it is settled on the times held.
    expect(decideTagsSync(state, fromSource, fromTarget, sites, true, true)).toMatchObject({
      action: 'copy',
      from: 'target',
    });
    // Only a conflict waits: one side changed is settled whatever the age of the change.
    const onlySource = { ...state, target: agreed };
    expect(decideTagsSync(onlySource, fromSource, fromTarget, sites, false, true)).toMatchObject({
      action: 'copy',
      from: 'source',
    });
  });

  test('the changes held are old when even the newer side is older than STALE_CHANGES_MS', () => {
    const t0 = Date.parse(at(10));
    const source: TagsChange = { side: 'source', at: at(10) };
    const target: TagsChange = { side: 'target', at: at(12) };
    expect(heldChangesAreStale(source, target, t0 + 2_000 + STALE_CHANGES_MS)).toBe(false);
    expect(heldChangesAreStale(source, target, t0 + 2_001 + STALE_CHANGES_MS)).toBe(true);
    expect(heldChangesAreStale(source, undefined, t0 + 1 + STALE_CHANGES_MS)).toBe(true);
    expect(heldChangesAreStale(source, undefined, t0 + 1_000)).toBe(false);
  });

  test('a user replacing the tags removes their stamp tag: the copy stamp stands for it', () => {
    // Replaced on the replica (stamp tag gone), the source untouched since the copy.
    const state = { source: agreed, target: tags({ b: '2' }), copyStamp: stamp };
    expect(decideTagsSync(state, { side: 'target', at: at(1) }, undefined, sites)).toMatchObject({
      action: 'copy',
      from: 'target',
    });
    // Replaced on both: a conflict, settled by the times.
    const both = { source: tags({ c: '3' }), target: tags({ b: '2' }), copyStamp: stamp };
    expect(decideTagsSync(both, { side: 'target', at: at(1) }, undefined, sites)).toEqual({ action: 'wait' });
  });

  test('without a stamp (older replicas, or no room for it) the change at hand wins', () => {
    const state = { source: tags({ a: 'S' }), target: tags({ a: 'T' }) };
    expect(decideTagsSync(state, { side: 'target', at: at(1) }, undefined, sites)).toMatchObject({
      action: 'copy',
      from: 'target',
    });
  });
});

import {
  nullPlacement,
  planSync,
  runSegment,
  type ChangeRef,
  type PendingChange,
  type SourceEntry,
  type SyncInput,
  type SyncPlan,
  type TargetEntry,
} from '../../activities/placement';

// Histories are written oldest first (as one reads them) and reversed into S3's newest-first order.
/** Source: "v1" a version, "d1" a delete marker. */
function source(...ids: string[]): SourceEntry[] {
  return ids.map((id) => ({ versionId: id, isDeleteMarker: id.startsWith('d'), isLatest: false })).reverse();
}

let counter = 0;
/** Target: "R(v1)" replica of v1, "R(v1,late)", "R(null@5)", "DM", "F" (a version this engine did not write). */
function target(...specs: string[]): TargetEntry[] {
  return specs
    .map((spec): TargetEntry => {
      const versionId = `t${++counter}`;
      if (spec === 'DM') return { versionId, isDeleteMarker: true, isLatest: false };
      if (spec === 'F') return { versionId, isDeleteMarker: false, isLatest: false, marker: null };
      const m = /^R\((\w+)(?:@(\d+))?(,late)?\)$/.exec(spec);
      if (!m) throw new Error(`bad spec ${spec}`);
      return {
        versionId,
        isDeleteMarker: false,
        isLatest: false,
        marker: {
          sourceVersionId: m[1]!,
          sequence: m[2] ?? '1',
          sourceSite: 'src',
          ...(m[3] ? { late: true } : {}),
        },
      };
    })
    .reverse();
}

const put = (versionId: string): ChangeRef => ({ versionId, operation: 'put', sequence: '1' });
const dm = (versionId: string): ChangeRef => ({ versionId, operation: 'delete-marker', sequence: '1' });
const pending = (...changes: ChangeRef[]): PendingChange[] =>
  changes.map((c) => ({ ...c, identity: `${c.versionId}|${c.operation}` }));

function plan(
  change: ChangeRef,
  s: SourceEntry[],
  t: TargetEntry[],
  extra: Partial<SyncInput> = {},
): SyncPlan {
  return planSync({
    change,
    source: s,
    sourceComplete: true,
    target: t,
    targetComplete: true,
    pending: [],
    replicateDeleteMarkers: true,
    catchUpUnknown: true,
    ...extra,
  });
}

/** The segment as "id" (applied) or "(id)" (not applicable), plus the delete markers already there. */
function segmentOf(p: SyncPlan): string {
  if (p.kind !== 'sync') return p.kind;
  return `${p.segment.map((e) => (e.applicable ? e.versionId : `(${e.versionId})`)).join(' ')} / ${p.targetDeleteMarkers}`;
}

describe('placing a put on the target, in source order', () => {
  test('an empty target takes the first version; the next goes above it', () => {
    expect(segmentOf(plan(put('v1'), source('v1'), target()))).toBe('v1 / 0');
    expect(segmentOf(plan(put('v2'), source('v1', 'v2'), target('R(v1)')))).toBe('v2 / 0');
  });

  test('a re-executed or redelivered put is found, however deep (no duplicate, no resurrection)', () => {
    const history = target('R(v1)', 'DM', 'R(v2)', 'DM');
    expect(plan(put('v2'), source('v1', 'd1', 'v2', 'd2'), history)).toMatchObject({
      kind: 'found',
      entry: history[1],
    });
    expect(plan(put('v1'), source('v1', 'd1', 'v2', 'd2'), history)).toMatchObject({
      kind: 'found',
      entry: history[3],
    });
  });

  test('concurrent writers: a journal entry ahead of an older version brings that one over first', () => {
    // The source holds v1, A, B; the journal delivered B before A.
    const s = source('v1', 'A', 'B');
    expect(segmentOf(plan(put('B'), s, target('R(v1)'), { pending: pending(put('A')) }))).toBe('A B / 0');
    const withPending = plan(put('B'), s, target('R(v1)'), { pending: pending(put('A')) });
    expect(withPending.kind === 'sync' && withPending.segment[0]!.pending?.identity).toBe('A|put');
    // A's own entry, later, finds it.
    expect(plan(put('A'), s, target('R(v1)', 'R(A)', 'R(B)')).kind).toBe('found');
  });

  test('without a queued entry, versions after the anchor are brought over only where allowed', () => {
    const s = source('v1', 'A', 'B');
    expect(segmentOf(plan(put('B'), s, target('R(v1)')))).toBe('A B / 0');
    expect(segmentOf(plan(put('B'), s, target('R(v1)'), { catchUpUnknown: false }))).toBe('(A) B / 0');
  });

  test('below the first replicated version lies what was written before the rule: never copied unasked', () => {
    expect(segmentOf(plan(put('v1'), source('v0', 'd0', 'v1'), target()))).toBe('(v0) (d0) v1 / 0');
    expect(segmentOf(plan(put('v1'), source('v0', 'v1'), target(), { pending: pending(put('v0')) }))).toBe(
      'v0 v1 / 0',
    );
  });

  test('under a backfill, a change with no anchor brings the whole history from before the rule, in order', () => {
    const s = source('v0', 'd0', 'v1', 'v2');
    expect(segmentOf(plan(put('v2'), s, target(), { catchUpExisting: true }))).toBe('v0 d0 v1 v2 / 0');
    // The oldest first: a backfilled v0 alone, then v1 brings nothing it does not need.
    expect(segmentOf(plan(put('v0'), s, target(), { catchUpExisting: true }))).toBe('v0 / 0');
    expect(segmentOf(plan(put('v1'), s, target('R(v0)', 'DM'), { catchUpExisting: true }))).toBe('d0 v1 / 1');
    // It needs the bottom of the source's history first.
    expect(plan(put('v2'), s, target(), { catchUpExisting: true, sourceComplete: false }).kind).toBe(
      'need-more-source',
    );
    // Not for rules whose replicas the copy cannot check (journal-named targets).
    expect(segmentOf(plan(put('v2'), s, target(), { catchUpExisting: true, catchUpUnknown: false }))).toBe(
      '(v0) (d0) (v1) v2 / 0',
    );
    // Once an anchor exists, a backfilled version below it is late: never inserted under newer ones.
    expect(plan(put('v0'), s, target('R(v2)'), { catchUpExisting: true }).kind).toBe('late');
  });

  test('a version older than what the target holds, never applied, is late', () => {
    expect(plan(put('v2'), source('v1', 'v2', 'v3'), target('R(v1)', 'R(v3)')).kind).toBe('late');
  });

  test('a put after a delete marker: the marker above the anchor is the segment’s first', () => {
    expect(segmentOf(plan(put('v2'), source('v1', 'd1', 'v2'), target('R(v1)', 'DM')))).toBe('d1 v2 / 1');
  });

  test('a late insert left as the latest (the retry stopped before restoring) asks for the restore', () => {
    const history = target('R(v1)', 'R(v3)', 'R(v2,late)');
    expect(plan(put('v2'), source('v1', 'v2', 'v3'), history)).toMatchObject({
      kind: 'found-needs-restore',
      restoreFrom: history[1],
    });
  });

  test('a version gone from the source is reported; an unread source or target asks for more', () => {
    expect(plan(put('v1'), source('v2'), target())).toEqual({ kind: 'gone' });
    expect(plan(put('v1'), source('v2'), target(), { sourceComplete: false })).toEqual({
      kind: 'need-more-source',
    });
    expect(plan(put('v2'), source('v1', 'v2'), target('R(v0)'), { targetComplete: false })).toEqual({
      kind: 'need-more-target',
    });
  });

  test('replicas whose source version was deleted since, and versions the engine did not write, do not anchor', () => {
    expect(segmentOf(plan(put('v3'), source('v2', 'v3'), target('R(v1)', 'R(v2)', 'F')))).toBe('v3 / 0');
    expect(segmentOf(plan(put('v3'), source('v3'), target('R(v1)')))).toBe('v3 / 0');
  });
});

describe('placing a delete marker on the target', () => {
  test('appended once above its version, then found as already there', () => {
    expect(segmentOf(plan(dm('d1'), source('v1', 'd1'), target('R(v1)')))).toBe('d1 / 0');
    expect(segmentOf(plan(dm('d1'), source('v1', 'd1'), target('R(v1)', 'DM')))).toBe('d1 / 1');
  });

  test('put v1, DELETE, put v2: a redelivered delete marker is found between them', () => {
    const history = target('R(v1)', 'DM', 'R(v2)');
    expect(plan(dm('d1'), source('v1', 'd1', 'v2'), history)).toMatchObject({
      kind: 'found',
      entry: history[1],
    });
  });

  test('consecutive delete markers are counted (AWS keeps each; MinIO collapses them)', () => {
    expect(segmentOf(plan(dm('d2'), source('v1', 'd1', 'd2'), target('R(v1)', 'DM')))).toBe('d1 d2 / 1');
    expect(
      plan(dm('d1'), source('v1', 'd1', 'd2', 'v2'), target('R(v1)', 'DM', 'DM', 'R(v2)')),
    ).toMatchObject({
      kind: 'found',
    });
  });

  test('a delete marker older than a version on the target, never applied, is late', () => {
    expect(plan(dm('d1'), source('v1', 'd1', 'v2'), target('R(v1)', 'R(v2)')).kind).toBe('late');
  });

  test("a two-way peer's replica anchors on the original, so a replicated delete marker does not bounce", () => {
    const original: TargetEntry = {
      versionId: 'orig-1',
      isDeleteMarker: false,
      isLatest: false,
      marker: null,
    };
    const marker: TargetEntry = { versionId: 'dm-1', isDeleteMarker: true, isLatest: true };
    const s: SourceEntry[] = [
      { versionId: 'd1', isDeleteMarker: true, isLatest: true },
      { versionId: 'replica-of-orig-1', isDeleteMarker: false, isLatest: false, originOnTarget: 'orig-1' },
    ];
    expect(segmentOf(plan(dm('d1'), s, [marker, original]))).toBe('d1 / 1');
  });

  test('two-way: a restore copy of a local write competes with the time of that write, not its own', () => {
    const lww = { lastWriterWins: { sourceSite: 'a', targetSite: 'b' } };
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    // Target b: its own write W (t=10), then a restore copy of W made at t=30.
    const w: TargetEntry = {
      versionId: 'w',
      isDeleteMarker: false,
      isLatest: false,
      marker: null,
      lastModified: at(10),
    };
    const copy: TargetEntry = {
      versionId: 'w-copy',
      isDeleteMarker: false,
      isLatest: true,
      marker: null,
      lastModified: at(30),
      writtenAt: at(10),
    };
    // Source a: a put at t=20, later than W: it wins over the copy (it would lose to t=30).
    const s: SourceEntry[] = [
      { versionId: 'v20', isDeleteMarker: false, isLatest: true, lastModified: at(20) },
    ];
    expect(plan(put('v20'), s, [copy, w], lww).kind).toBe('sync');
    // A put at t=5 loses to W, restore copy or not.
    const early: SourceEntry[] = [
      { versionId: 'v5', isDeleteMarker: false, isLatest: true, lastModified: at(5) },
    ];
    expect(plan(put('v5'), early, [copy, w], lww)).toMatchObject({ kind: 'late', lastWriterWins: true });
    // Without the copy's original time, its own LastModified decides (the bug this guards).
    const { writtenAt: _, ...bare } = copy;
    expect(plan(put('v20'), s, [bare, w], lww)).toMatchObject({ kind: 'late', lastWriterWins: true });
  });

  test('two-way: a losing put whose winner already came back to its site is still kept below it', () => {
    const lww = { lastWriterWins: { sourceSite: 'a', targetSite: 'b' } };
    const [r1] = target('R(v1)');
    const w: TargetEntry = { versionId: 'w', isDeleteMarker: false, isLatest: true, marker: null };
    // Source a: v1, v2 (the loser), then its replica of b's winner w on top.
    const s: SourceEntry[] = [
      { versionId: 'w-on-a', isDeleteMarker: false, isLatest: true, originOnTarget: 'w' },
      { versionId: 'v2', isDeleteMarker: false, isLatest: false },
      { versionId: 'v1', isDeleteMarker: false, isLatest: false },
    ];
    expect(plan(put('v2'), s, [w, r1!], lww)).toMatchObject({ kind: 'late', lastWriterWins: true });
    // One-way, the same history is a late change, not inserted.
    expect(plan(put('v2'), s, [w, r1!])).toEqual({
      kind: 'late',
      why: 'a newer source version is already on the target',
    });
  });

  test('without delete-marker replication, markers are left out of the segment', () => {
    expect(
      segmentOf(
        plan(put('v2'), source('v1', 'd1', 'v2'), target('R(v1)'), { replicateDeleteMarkers: false }),
      ),
    ).toBe('v2 / 0');
  });
});

describe('"null" versions (unversioned or suspended buckets)', () => {
  test('a null put is found by its sequence, otherwise appended', () => {
    const history = target('R(null@10)', 'R(null@20)');
    expect(nullPlacement({ versionId: 'null', operation: 'put', sequence: '10' }, history).kind).toBe(
      'found',
    );
    expect(nullPlacement({ versionId: 'null', operation: 'put', sequence: '30' }, history).kind).toBe('sync');
  });

  test('a null delete marker is applied unless the target already ends with one', () => {
    expect(
      nullPlacement({ versionId: 'null', operation: 'delete-marker', sequence: '1' }, target('R(null@1)'))
        .kind,
    ).toBe('sync');
    expect(
      nullPlacement(
        { versionId: 'null', operation: 'delete-marker', sequence: '1' },
        target('R(null@1)', 'DM'),
      ).kind,
    ).toBe('found');
  });
});

/**
 * The placement rules against a model of both sites: random histories of puts and deletes,
 * delivered in a shuffled journal order with duplicates, applied with random re-executions,
 * must leave the target exactly the source: every version once, every delete marker in
 * place, same latest. Pure logic: the sites are arrays.
 */
describe('model check: any journal order, duplicates and re-executions end with target = source', () => {
  function prng(seed: number) {
    let x = seed >>> 0 || 1;
    return () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 0x1_0000_0000;
    };
  }

  async function simulate(seed: number, collapseDeleteMarkers: boolean) {
    const random = prng(seed);
    // The source's history, oldest first.
    const history: string[] = [];
    const changes = 10 + Math.floor(random() * 30);
    for (let i = 0; i < changes; i++) {
      const last = history.at(-1);
      const deleting = random() < 0.3;
      if (deleting && !(collapseDeleteMarkers && last?.startsWith('d'))) history.push(`d${i}`);
      else history.push(`v${i}`);
    }
    const refOf = (id: string): ChangeRef => (id.startsWith('d') ? dm(id) : put(id));
    // Journal: source order with nearby entries swapped, and some entries delivered again later.
    const journal = [...history];
    for (let i = 0; i < journal.length - 1; i++) {
      if (random() < 0.3) [journal[i], journal[i + 1]] = [journal[i + 1]!, journal[i]!];
    }
    for (let i = 0; i < 8; i++) {
      const at = Math.floor(random() * journal.length);
      const later = at + Math.floor(random() * (journal.length - at + 1));
      journal.splice(later, 0, journal[at]!);
    }
    const src = source(...history);
    const tgt: TargetEntry[] = []; // newest first
    let seq = 0;
    const queue = journal.map((id) => ({ ...refOf(id), identity: `${id}|${refOf(id).operation}` }));
    const done = new Set<string>();
    while (queue.length > 0) {
      const change = queue.shift()!;
      if (done.has(change.identity) && random() < 0.5) continue; // the workflow dropped this duplicate
      const runs = random() < 0.2 ? 2 : 1; // a local activity re-run after a failed workflow task
      for (let r = 0; r < runs; r++) {
        const p = plan(change, src, tgt, { pending: queue.slice(0, 100) });
        if (p.kind !== 'sync') continue;
        const outcome = await runSegment(p.segment, p.targetDeleteMarkers, {
          deleteMarker: async () => {
            if (collapseDeleteMarkers && tgt[0]?.isDeleteMarker) return tgt[0].versionId;
            tgt.unshift({ versionId: `t${++seq}`, isDeleteMarker: true, isLatest: true });
            return tgt[0]!.versionId;
          },
          copy: async (entry) => {
            tgt.unshift({
              versionId: `t${++seq}`,
              isDeleteMarker: false,
              isLatest: true,
              marker: { sourceVersionId: entry.versionId, sequence: '1', sourceSite: 'src' },
            });
            return { applied: true, targetVersionId: tgt[0]!.versionId };
          },
        });
        for (const a of outcome.ahead) {
          const i = queue.findIndex((q) => q.identity === a.pending.identity);
          if (i >= 0 && random() < 0.7) queue.splice(i, 1); // or it stays, and will be found
        }
      }
      done.add(change.identity);
    }
    const mirrored = [...tgt].reverse().map((e) => (e.isDeleteMarker ? 'DM' : e.marker!.sourceVersionId));
    const expected = history.map((id) => (id.startsWith('d') ? 'DM' : id));
    return { mirrored, expected, journal };
  }

  test.each([false, true])('500 random runs (collapse consecutive delete markers: %s)', async (collapse) => {
    for (let seed = 1; seed <= 500; seed++) {
      const { mirrored, expected, journal } = await simulate(seed, collapse);
      if (JSON.stringify(mirrored) !== JSON.stringify(expected)) {
        throw new Error(
          `seed ${seed}: journal ${journal.join(' ')}\nexpected ${expected.join(' ')}\ngot      ${mirrored.join(' ')}`,
        );
      }
    }
  });
});

import { backfillCandidates, type ListedEntry } from '../../activities/backfill-listing';
import { compareKey } from '../../operations/diff';
import { backfillRequests } from '../../operations/backfill';
import {
  backfillSequence,
  backfillVersionDigest,
  emptyBackfillProgress,
  estimateSecondsLeft,
  pageRefill,
  reportedCount,
  type BackfillReport,
  type BackfillRequest,
} from '../../shared/backfill';
import { taskIdentity, type ReplicationTask } from '../../shared/replication-task';
import { BackfillLedger } from '../../workflows/backfill-ledger';
import { BackfillReporter, MAX_REPORTS_PER_SIGNAL } from '../../workflows/backfill-reporter';
import { photosToWestConfig } from '../support/unit-config';

const config = photosToWestConfig();
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const entry = (
  key: string,
  versionId: string,
  second: number,
  extra: Partial<ListedEntry> = {},
): ListedEntry => ({
  key,
  versionId,
  isDeleteMarker: false,
  size: 10,
  etag: 'e',
  lastModified: at(second),
  ...extra,
});

describe('requests', () => {
  test('take the config defaults, every site of the bucket, and refuse what no rule covers', () => {
    const [r] = backfillRequests(config, { bucket: 'photos' }, at(0));
    expect(r).toEqual({
      site: 'west',
      bucket: 'photos',
      prefix: '',
      includeFailed: false,
      concurrency: config.backfill.concurrency,
      objectsPerSecond: 0,
      bytesPerSecond: 0,
      pageSize: 1000,
      startDelayMs: 10_000,
      eventsPerRun: 5000,
      requestedAt: at(0).toISOString(),
    });
    expect(
      backfillRequests(config, { bucket: 'photos', mibPerSecond: 2, olderThan: '2026-01-01' })[0],
    ).toMatchObject({
      bytesPerSecond: 2 * 1024 * 1024,
      olderThan: '2026-01-01T00:00:00.000Z',
    });
    expect(() => backfillRequests(config, { bucket: 'videos' })).toThrow(
      /bucket videos has no enabled replication rule/,
    );
    expect(() => backfillRequests(config, { bucket: 'photos', site: 'east' })).toThrow(
      /not replicated to site "east" \(its rules send it to: west\)/,
    );
    expect(() => backfillRequests(config, { bucket: 'photos', olderThan: 'soon' })).toThrow(
      /--older-than soon is not a date/,
    );
  });
});

describe('candidates of a listed page', () => {
  const request: BackfillRequest = backfillRequests(config, { bucket: 'photos' })[0]!;

  test('per key oldest first, with the rule target, a deterministic sequence and the backfill origin', () => {
    const found = backfillCandidates(
      [
        entry('a', 'a2', 2),
        entry('a', 'd', 1, { isDeleteMarker: true, size: 0 }),
        entry('a', 'a1', 0),
        entry('b', 'b1', 5),
      ],
      request,
      config,
      'crr-backfill/x',
    );
    expect(
      found.byKey.map((k) => [k.key, k.tasks.map((t) => `${t.entry.operation}:${t.entry.versionId}`)]),
    ).toEqual([
      ['a', ['put:a1', 'delete-marker:d', 'put:a2']],
      ['b', ['put:b1']],
    ]);
    expect(found).toMatchObject({ versions: 4, bytes: 30, skipped: 0 });
    const first = found.byKey[0]!.tasks[0]!;
    expect(first.target).toMatchObject({ site: 'west', bucket: 'dst', replicateDeleteMarkers: true });
    expect(first.backfill).toEqual({
      workflowId: 'crr-backfill/x',
      includeFailed: false,
      requestedAt: request.requestedAt,
    });
    expect(first.entry.sequence).toBe(backfillSequence(at(0)));
    // The same version listed again makes the same task: a key workflow drops the second.
    const again = backfillCandidates([entry('a', 'a1', 0)], request, config, 'crr-backfill/x');
    expect(taskIdentity(again.byKey[0]!.tasks[0]!)).toBe(taskIdentity(first));
  });

  test('skips versions newer than --older-than, and delete markers a rule does not replicate', () => {
    const older = { ...request, olderThan: at(3).toISOString() };
    expect(
      backfillCandidates([entry('a', 'new', 4), entry('a', 'old', 1)], older, config, 'x'),
    ).toMatchObject({
      versions: 1,
      skipped: 1,
    });
    const noMarkers = photosToWestConfig();
    noMarkers.replication.photos!.Rules[0]!.DeleteMarkerReplication = { Status: 'Disabled' };
    expect(
      backfillCandidates([entry('a', 'd', 1, { isDeleteMarker: true })], request, noMarkers, 'x'),
    ).toMatchObject({ versions: 0, skipped: 1 });
  });
});

describe('page refill', () => {
  test('a full window waits for a quarter of itself, at most a page, at least one version', () => {
    expect(pageRefill({ concurrency: 500, pageSize: 1000 })).toBe(125);
    expect(pageRefill({ concurrency: 5000, pageSize: 1000 })).toBe(1000);
    expect(pageRefill({ concurrency: 50, pageSize: 40 })).toBe(13);
    expect(pageRefill({ concurrency: 1, pageSize: 1000 })).toBe(1);
    expect(pageRefill({ concurrency: 8, pageSize: 1 })).toBe(1);
  });
});

describe('progress', () => {
  test('the time left comes from the rate reported so far and what is left to report', () => {
    const p = emptyBackfillProgress(at(0).toISOString());
    p.scanStartedAt = at(0).toISOString();
    p.phase = 'scanning';
    p.submitted = 100;
    p.replicated = 50;
    expect(estimateSecondsLeft(p, at(10).getTime())).toBeUndefined(); // total unknown yet
    p.totalVersions = 200;
    expect(estimateSecondsLeft(p, at(10).getTime())).toBe(30); // 150 left at 5/s
    p.phase = 'draining';
    expect(estimateSecondsLeft(p, at(10).getTime())).toBe(10); // 50 submitted still to report
    p.replicated = 0;
    expect(estimateSecondsLeft(p, at(10).getTime())).toBeUndefined();
  });
});

describe('the key workflow reporting outcomes to backfills', () => {
  const task = (versionId: string, backfill?: string): ReplicationTask => ({
    entry: { bucket: 'b', key: 'k', versionId, operation: 'put', eventTime: '', sequence: '1' },
    target: { site: 'west', bucket: 'dst', ruleId: 'r', replicateDeleteMarkers: true },
    ...(backfill ? { backfill: { workflowId: backfill, includeFailed: false, requestedAt: 't0' } } : {}),
  });

  test('waits for watched changes, reports each once, and sends when nothing is left queued for a backfill', () => {
    const queued = [task('v1', 'bf'), task('v2', 'bf'), task('v3')];
    const reporter = new BackfillReporter('k', queued);
    reporter.settled(taskIdentity(queued[0]!), 'v1', 'replicated', 10);
    expect(reporter.take(false)).toEqual([]); // v2 still queued for "bf"
    reporter.settled(taskIdentity(queued[2]!), 'v3', 'replicated'); // no backfill waits for it
    reporter.settled(taskIdentity(queued[1]!), 'v2', BackfillReporter.resultOf('already replicated'));
    reporter.settled(taskIdentity(queued[1]!), 'v2', 'failed'); // reported once only
    expect(reporter.take(false)).toEqual([
      [
        'bf',
        [
          { id: backfillVersionDigest('k', 'v1'), versionId: 'v1', result: 'replicated', bytes: 10 },
          { id: backfillVersionDigest('k', 'v2'), versionId: 'v2', result: 'already', bytes: 0 },
        ],
      ],
    ]);
    expect(reporter.hasReports).toBe(false);
  });

  test('outcomes known at once, a live task a backfill waits for, and signals of bounded size', () => {
    const reporter = new BackfillReporter('k');
    const live = task('v9');
    reporter.watch(live, { workflowId: 'bf', includeFailed: false, requestedAt: 't0' });
    expect(live.backfill).toEqual({ workflowId: 'bf', includeFailed: false, requestedAt: 't0' }); // carried over continue-as-new
    for (let i = 0; i < MAX_REPORTS_PER_SIGNAL + 1; i++)
      reporter.reportNow(
        { workflowId: 'bf', includeFailed: false, requestedAt: 't0' },
        { versionId: `v${i}`, result: 'already', bytes: 0 },
      );
    const sent = reporter.take(false);
    expect(sent.map(([, r]) => r.length)).toEqual([MAX_REPORTS_PER_SIGNAL, 1]);
    expect(BackfillReporter.resultOf('not replicated: superseded')).toBe('not_replicated');
    expect(BackfillReporter.resultOf(undefined)).toBe('replicated');
  });
});

describe('diff of one key', () => {
  const t = (
    versionId: string,
    second: number,
    sourceVersionId?: string,
    extra: Partial<ListedEntry> = {},
  ) => ({
    ...entry('k', versionId, second, extra),
    ...(sourceVersionId ? { sourceVersionId } : {}),
  });
  test('nothing when every version has its replica, the same delete markers and latest', () => {
    const source = [entry('k', 'v2', 3), entry('k', 'd', 2, { isDeleteMarker: true }), entry('k', 'v1', 1)];
    const target = [t('r2', 13, 'v2'), t('dm', 12, undefined, { isDeleteMarker: true }), t('r1', 11, 'v1')];
    expect(compareKey('west', 'photos', 'dst', true, source, target)).toEqual([]);
  });
  test('missing replicas, sizes and single-part ETags that differ, delete markers, latest', () => {
    const source = [
      entry('k', 'v3', 4),
      entry('k', 'v2', 3, { etag: 'x' }),
      entry('k', 'v1', 1, { size: 5 }),
    ];
    const target = [
      t('r2', 13, 'v2', { etag: 'y' }),
      t('dm', 12, undefined, { isDeleteMarker: true }),
      t('r1', 11, 'v1'),
    ];
    expect(
      compareKey('west', 'photos', 'dst', true, source, target).map((f) => `${f.kind}:${f.versionId ?? ''}`),
    ).toEqual(['missing:v3', 'etag-differs:v2', 'size-differs:v1', 'delete-markers-differ:']);
    // A multipart ETag is never compared.
    const multipart = [entry('k', 'v1', 1, { etag: 'abc-3' })];
    expect(
      compareKey('west', 'photos', 'dst', true, multipart, [t('r1', 11, 'v1', { etag: 'def' })]),
    ).toEqual([]);
    // Right versions, wrong latest.
    const latest = compareKey(
      'west',
      'photos',
      'dst',
      false,
      [entry('k', 'v2', 2), entry('k', 'v1', 1)],
      [t('r1', 12, 'v1'), t('r2', 11, 'v2')],
    );
    expect(latest.map((f) => f.kind)).toEqual(['latest-differs']);
  });
});

describe('the backfill matching outcomes to the versions it submitted', () => {
  const report = (
    key: string,
    versionId: string,
    result: BackfillReport['result'] = 'replicated',
  ): BackfillReport => ({
    id: backfillVersionDigest(key, versionId),
    versionId,
    result,
    bytes: result === 'replicated' ? 5 : 0,
  });
  const ids = (...pairs: Array<[string, string]>) => pairs.map(([k, v]) => backfillVersionDigest(k, v));

  test('a second outcome of a version (a retried page re-signalled an ended key) is not counted', () => {
    const progress = emptyBackfillProgress('t0');
    const ledger = new BackfillLedger(progress);
    ledger.pageStarted();
    // Outcomes may come before the page's result names its versions.
    ledger.report([report('a', '1')]);
    ledger.pageSubmitted(ids(['a', '1'], ['b', '1'], ['b', '2']));
    expect(ledger.outstanding).toBe(2);
    ledger.report([report('b', '1'), report('a', '1', 'already')]); // a/1 again: a duplicate
    expect(ledger.outstanding).toBe(1);
    expect(reportedCount(progress)).toBe(2);
    expect(progress.duplicateReports).toBe(1);
    // Not done while b/2 is in flight, whatever the counts say.
    ledger.report([report('c', '9')]);
    expect(ledger.outstanding).toBe(1);
    ledger.report([report('b', '2', 'not_replicated')]);
    expect(ledger.outstanding).toBe(0);
    expect(progress).toMatchObject({
      replicated: 2,
      replicatedBytes: 10,
      notReplicated: 1,
      duplicateReports: 2,
    });
  });

  test('a duplicate that comes during the next page is dropped once that page is named', () => {
    const progress = emptyBackfillProgress('t0');
    const ledger = new BackfillLedger(progress, ids(['x', '1'])); // carried over continue-as-new
    ledger.report([report('x', '1')]);
    ledger.pageStarted();
    ledger.report([report('x', '1'), report('y', '1')]);
    ledger.pageSubmitted(ids(['y', '1']));
    expect(ledger.outstanding).toBe(0);
    expect(reportedCount(progress)).toBe(2);
    expect(progress.duplicateReports).toBe(1);
    expect(ledger.carried()).toEqual([]);
  });

  test('version digests are stable, distinct per key and version, and short', () => {
    const key = 'dir/ünï cødé %+ '.repeat(60);
    expect(backfillVersionDigest(key, 'v1')).toBe(backfillVersionDigest(key, 'v1'));
    expect(backfillVersionDigest(key, 'v1')).toMatch(/^[0-9a-f]{16}$/);
    const seen = new Set<string>();
    for (let k = 0; k < 200; k++)
      for (let v = 0; v < 50; v++) seen.add(backfillVersionDigest(`key-${k}`, `${v}`));
    expect(seen.size).toBe(10_000);
    expect(backfillVersionDigest('a', 'bc')).not.toBe(backfillVersionDigest('ab', 'c'));
  });
});

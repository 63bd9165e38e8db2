import type { ReplicationTask } from '../../shared/replication-task';
import { taskIdentity } from '../../shared/replication-task';
import { CARRIED_IDENTITIES, VersionBook } from '../../workflows/version-book';

const T0 = '2026-11-25T00:00:00.000Z';

function task(
  versionId: string,
  sequence: string,
  operation: ReplicationTask['entry']['operation'] = 'put',
): ReplicationTask {
  return {
    entry: { bucket: 'b', key: 'k', versionId, operation, size: 1, eventTime: T0, sequence },
    target: { site: 's', bucket: 'tb', ruleId: 'r', replicateDeleteMarkers: true },
  };
}

describe('VersionBook', () => {
  test('accepts tasks in order and drops duplicate deliveries', () => {
    const book = new VersionBook();
    expect(book.accept([task('v1', '1'), task('v2', '2'), task('v1', '1')], T0)).toBe(2);
    expect(book.accept([task('v2', '2')], T0)).toBe(0);
    expect(book.queue.map((t) => t.entry.versionId)).toEqual(['v1', 'v2']);
    expect(book.versions.map((v) => v.status)).toEqual(['PENDING', 'PENDING']);
  });

  test('complete, fail, then retry: the FAILED version is queued again as a retry', () => {
    const book = new VersionBook();
    book.accept([task('v1', '1'), task('v2', '2')], T0);
    const first = book.next()!;
    book.begin(first, T0);
    book.complete(
      taskIdentity(first),
      { identity: taskIdentity(first), bytes: 1, attempts: 1, targetVersionId: 't1' },
      1,
      T0,
    );
    const second = book.next()!;
    book.begin(second, T0);
    book.fail(second, 'AccessDenied', 3, T0);
    expect(book.hasFailed).toBe(true);
    expect(book.failedMemo()).toMatchObject({
      failedCount: 1,
      failed: [{ versionId: 'v2', reason: 'AccessDenied', attempts: 3 }],
    });
    expect(book.replicaOf('v1')).toBe('t1');

    expect(book.retryFailed(T0)).toBe(1);
    expect(book.hasFailed).toBe(false);
    expect(book.queue).toHaveLength(1);
    expect(book.queue[0]!.retry).toBe(true);
    // The failure's history stays with the version across the retry.
    expect(book.versions[1]).toMatchObject({ failures: 1, firstFailedAt: T0, lastFailure: 'AccessDenied' });
    const again = book.next()!;
    book.begin(again, T0);
    book.fail(again, 'AccessDenied again', 2, '2026-11-25T02:00:00.000Z');
    expect(book.failedMemo().failed[0]).toMatchObject({
      failures: 2,
      firstFailedAt: T0,
      reason: 'AccessDenied again',
    });
    // A retry is accepted even though its delivery was seen.
    expect(book.accept([{ ...task('v2', '2'), retry: true }], T0)).toBe(1);
  });

  test('dismiss: a FAILED version is recorded COMPLETED, not replicated, with the reason and its last failure', () => {
    const book = new VersionBook();
    book.accept([task('v1', '1')], T0);
    const t = book.next()!;
    book.begin(t, T0);
    book.fail(t, '[TARGET_BUCKET_MISSING] copying data failed', 1, T0);
    expect(book.dismissFailed('bucket retired', '2026-11-25T01:00:00.000Z')).toBe(1);
    expect(book.hasFailed).toBe(false);
    expect(book.failedMemo().failedCount).toBe(0);
    expect(book.versions[0]).toMatchObject({
      status: 'COMPLETED',
      finishedAt: '2026-11-25T01:00:00.000Z',
      detail:
        'not replicated: dismissed by an operator (bucket retired); last failure: [TARGET_BUCKET_MISSING] copying data failed',
    });
    // Nothing is left to retry.
    expect(book.retryFailed(T0)).toBe(0);
    expect(book.dismissFailed(undefined, T0)).toBe(0);
  });

  test('shows the attempt, the next retry time and the last error while a version retries', () => {
    const book = new VersionBook();
    const t = task('v1', '1');
    book.accept([t], T0);
    book.retrying(taskIdentity(t), 4, 'SlowDown', '2026-11-25T00:01:00.000Z');
    expect(book.versions[0]).toMatchObject({
      status: 'PROCESSING',
      attempts: 4,
      reason: 'SlowDown',
      nextAttemptAt: '2026-11-25T00:01:00.000Z',
    });
  });

  test('carries the queue, FAILED versions and recent deliveries over continue-as-new', () => {
    const book = new VersionBook();
    const tasks = Array.from({ length: CARRIED_IDENTITIES + 10 }, (_, i) => task(`v${i}`, String(i)));
    book.accept(tasks, T0);
    const failed = book.next()!;
    book.fail(failed, 'boom', 1, T0);
    const carried = book.carryOver();
    expect(carried.queue).toHaveLength(tasks.length - 1);
    expect(carried.versions[0]).toMatchObject({ versionId: 'v0', status: 'FAILED' });
    expect(carried.seen).toHaveLength(CARRIED_IDENTITIES);
    // Queued tasks travel without the bucket and key the workflow already knows.
    expect(carried.queue[0]!.entry).not.toHaveProperty('key');
    const next = new VersionBook(carried, { bucket: 'b', key: 'k' });
    expect(next.queue[0]!.entry).toMatchObject({ bucket: 'b', key: 'k', versionId: 'v1' });
    // The newest deliveries are still recognised in the next run; the oldest fall out of the window.
    expect(next.accept([task(`v${tasks.length - 1}`, String(tasks.length - 1))], T0)).toBe(0);
    expect(next.accept([task('v0', '0')], T0)).toBe(1);
  });

  test('failFromMemo marks the named versions FAILED (history reader)', () => {
    const book = new VersionBook();
    book.accept([task('v1', '1', 'delete-marker')], T0);
    book.failFromMemo(
      [{ versionId: 'v1', operation: 'delete-marker', sequence: '1', reason: 'NoSuchBucket', attempts: 1 }],
      T0,
    );
    expect(book.versions[0]).toMatchObject({ status: 'FAILED', reason: 'NoSuchBucket' });
  });
});

describe('a backfill delivering versions the key already handled', () => {
  const origin = { workflowId: 'bf', includeFailed: false, requestedAt: 't1' };
  const backfilled = (versionId: string, sequence: string): ReplicationTask => ({
    ...task(versionId, sequence),
    backfill: origin,
  });

  test('a COMPLETED version, or the same task seen before, is checked again against the target (a replica deleted since is copied again)', () => {
    const book = new VersionBook();
    book.accept([task('v1', '1'), backfilled('v2', '20')], T0);
    for (let t = book.next(); t; t = book.next()) {
      book.begin(t, T0);
      book.complete(taskIdentity(t), { identity: taskIdentity(t), bytes: 1, attempts: 1 }, 1, T0);
    }
    // v1 COMPLETED by the journal, v2 by an earlier backfill (same task identity).
    const admission = book.admit([backfilled('v1', '10'), backfilled('v2', '20')], T0);
    expect(admission.reports).toEqual([]);
    expect(book.queue.map((t) => [t.entry.versionId, t.recheck ?? false])).toEqual([
      ['v1', false],
      ['v2', true],
    ]);
    // The backfill waits for both outcomes; nothing is dropped as a duplicate.
    expect(admission.watched.map((w) => w.task.entry.versionId)).toEqual(['v1', 'v2']);
    // The same backfill delivering them again (a retried page) changes nothing.
    expect(book.admit([backfilled('v1', '10'), backfilled('v2', '20')], T0)).toEqual({
      reports: [],
      watched: [],
    });
    expect(book.queue).toHaveLength(2);
    // `recheck` is no retry: placement does not insert it below newer versions.
    expect(book.queue.every((t) => t.retry === undefined)).toBe(true);
  });
});

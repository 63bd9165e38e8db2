import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { BoundedLabel, OTHER_LABEL } from '../../metrics/labels';
import { consumerLag, offsetAfter } from '../../metrics/populator-metrics';
import {
  failureReasonLabel,
  operationLabel,
  operationOfIdentity,
  outcomeLabel,
  secondsSince,
} from '../../metrics/worker-metrics';
import { backlogQuery, oldestPendingAge, queryLiteral } from '../../operations/backlog';
import { JournalTally, SKIP_OUTCOMES } from '../../populator/journal-outcomes';
import { RUN_AS_REGULAR_ACTIVITY } from '../../shared/copy-plan';
import { taskIdentity } from '../../shared/replication-task';

describe('replication outcome labels', () => {
  test.each([
    [undefined, 'replicated'],
    ['resumed multipart upload u-1: reused 3 of 5 parts', 'replicated'],
    ['replicated on retry below newer changes (x); the target latest was restored on top', 'replicated'],
    ['the source no longer lists this delete marker', 'replicated'],
    ['replicated ahead of its journal entry, in source order (with v2)', 'replicated'],
    ['already replicated', 'already_replicated'],
    ['already replicated (the newer version was restored as latest)', 'already_replicated'],
    ['not replicated: the source version no longer exists', 'not_replicated'],
    ['not replicated: superseded (a newer version is the latest)', 'not_replicated'],
    ["not replicated: the version's tags do not match rule r1", 'not_replicated'],
  ])('%j → %s', (detail, label) => {
    expect(outcomeLabel(detail)).toBe(label);
  });

  test('operations are the journal operations, anything else is "other"', () => {
    expect(['put', 'metadata', 'delete-marker', 'delete-version', 'rename'].map(operationLabel)).toEqual([
      'put',
      'metadata',
      'delete-marker',
      'delete-version',
      OTHER_LABEL,
    ]);
  });

  test('the operation of a task identity, whatever the version id holds', () => {
    const identity = taskIdentity({
      entry: { versionId: 'a|b', operation: 'delete-marker', sequence: '42' },
    });
    expect(operationOfIdentity(identity)).toBe('delete-marker');
    expect(operationOfIdentity('v1|put|7')).toBe('put');
    expect(operationOfIdentity('garbage')).toBe(OTHER_LABEL);
  });
});

describe('failure reason labels: the error type, never its message', () => {
  test('ApplicationFailure types (S3 errors classified by the activities)', () => {
    const permanent = ApplicationFailure.create({
      message: 'copying failed for s3://photos/cat.jpg version v1 to site west: AccessDenied',
      type: 'PermanentAccessDenied',
      nonRetryable: true,
    });
    expect(failureReasonLabel(permanent)).toBe('PermanentAccessDenied');
    expect(failureReasonLabel(new ApplicationFailure('timeout', 'TransientTimeoutError'))).toBe(
      'TransientTimeoutError',
    );
    expect(failureReasonLabel(ApplicationFailure.create({ message: 'no type' }))).toBe('ApplicationFailure');
  });

  test('the workflow re-plan request is not a failure', () => {
    expect(failureReasonLabel(ApplicationFailure.create({ type: RUN_AS_REGULAR_ACTIVITY }))).toBeUndefined();
  });

  test('cancellations, plain errors and non-errors', () => {
    expect(failureReasonLabel(new CancelledFailure('worker shutting down'))).toBe('Cancelled');
    expect(failureReasonLabel(new TypeError('x is undefined'))).toBe('TypeError');
    expect(failureReasonLabel('a string')).toBe('unknown');
  });

  test('a bounded label passes the first values and maps later new ones to "other"', () => {
    const label = new BoundedLabel(3);
    expect(['a', 'b', 'a', 'c', 'd', 'b', 'e'].map((v) => label.of(v))).toEqual([
      'a',
      'b',
      'a',
      'c',
      OTHER_LABEL,
      'b',
      OTHER_LABEL,
    ]);
    expect(new BoundedLabel().of(`x\n${'y'.repeat(500)}`)).toHaveLength(80);
    expect(new BoundedLabel().of('  ')).toBe('unknown');
  });
});

describe('latency and lag', () => {
  test('seconds since the journal event time', () => {
    const now = Date.parse('2026-11-24T10:00:05.500Z');
    expect(secondsSince('2026-11-24T10:00:00.000Z', now)).toBe(5.5);
    // A clock ahead of the worker's never gives a negative latency.
    expect(secondsSince('2026-11-24T10:01:00.000Z', now)).toBe(0);
    expect(secondsSince('not a date', now)).toBeUndefined();
    expect(secondsSince(undefined, now)).toBeUndefined();
  });

  test('consumer lag: high watermark minus the next offset to process', () => {
    expect(consumerLag('100', '100')).toBe(0);
    expect(consumerLag('100', '58')).toBe(42);
    expect(consumerLag('100', offsetAfter('57'))).toBe(42);
    // Offsets beyond 2^53 are exact (kafkajs gives them as strings).
    expect(consumerLag('9007199254740999', '9007199254740990')).toBe(9);
    // A committed offset ahead of a stale high watermark is no negative lag.
    expect(consumerLag('10', '12')).toBe(0);
    expect(consumerLag('10', '-1')).toBeUndefined();
    expect(consumerLag('x', '1')).toBeUndefined();
  });
});

describe('journal outcomes', () => {
  test('every planner skip kind has its own outcome', () => {
    expect(SKIP_OUTCOMES).toEqual({
      replica: 'replica',
      'version delete': 'version_delete',
      'replicationInfo not PENDING': 'not_pending',
      'bucket without replication rules': 'no_replication_rules',
      'no matching rule': 'skipped_by_rule',
    });
  });

  test('a tally: entries with tasks are signalled unless a signal of theirs was refused', () => {
    const tally = new JournalTally();
    tally.skipped('no matching rule');
    tally.skipped('replica');
    tally.add('skipped_event', 0);
    tally.add('dead_lettered');
    tally.planned([0, 2, 3], new Set([3]));
    expect(Object.fromEntries(tally.counts)).toEqual({
      skipped_by_rule: 1,
      replica: 1,
      dead_lettered: 2,
      signalled: 2,
    });
  });
});

describe('backlog from Temporal visibility counts', () => {
  test('queries name the engine task queue and quote what they embed', () => {
    expect(backlogQuery('crr-west', 'pending')).toBe(
      "WorkflowType = 'replicateKeyWorkflow' AND TaskQueue = 'crr-west' AND ExecutionStatus = 'Running'" +
        " AND (CrrStatus IS NULL OR CrrStatus != 'FAILED')",
    );
    expect(backlogQuery('crr-west', 'failed', new Date('2026-11-24T10:00:00Z'))).toBe(
      "WorkflowType = 'replicateKeyWorkflow' AND TaskQueue = 'crr-west' AND ExecutionStatus = 'Running'" +
        " AND CrrStatus = 'FAILED' AND StartTime < '2026-11-24T10:00:00.000Z'",
    );
    expect(queryLiteral("it's a \\ test")).toBe("'it\\'s a \\\\ test'");
  });

  /** Counts of runs older than an age, as the visibility store answers them. */
  function runsAged(...ages: number[]) {
    const asked: number[] = [];
    const count = async (seconds: number) => {
      asked.push(seconds);
      return ages.filter((age) => age > seconds).length;
    };
    return { count, asked };
  }

  test.each([5, 59, 100, 900, 1000, 5000, 86_400 * 3])(
    'the oldest run of %i s is found within max(15 s, 1/8) below, in few counts',
    async (oldest) => {
      const { count, asked } = runsAged(1, oldest / 2, oldest);
      const found = await oldestPendingAge(count);
      expect(found).toBeLessThanOrEqual(oldest);
      expect(oldest - found).toBeLessThanOrEqual(Math.max(15, oldest / 8));
      expect(asked.length).toBeLessThanOrEqual(13);
    },
  );

  test('a young backlog costs a few counts; an ancient one stops at the maximum', async () => {
    const young = runsAged(3, 10);
    await oldestPendingAge(young.count);
    expect(young.asked.length).toBeLessThanOrEqual(3);
    const ancient = runsAged(90 * 86_400);
    expect(await oldestPendingAge(ancient.count, { max: 30 * 86_400 })).toBeGreaterThanOrEqual(11 * 86_400);
    expect(ancient.asked.length).toBeLessThanOrEqual(8);
  });
});

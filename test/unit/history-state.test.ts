import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { parseActivityId, stateFromHistory } from '../../operations/history-state';
import type { ReplicationOutcome, ReplicationTask } from '../../shared/replication-task';
import { taskIdentity } from '../../shared/replication-task';
import { FAILED_MEMO } from '../../shared/workflow-contract';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const payload = (value: unknown) => defaultPayloadConverter.toPayload(value) as never;
let second = 1_764_000_000;
// Protobuf timestamps carry Long seconds; the reader converts with Number(), so numbers do here.
const at = () => ({ seconds: second++ as never, nanos: 0 });

function task(
  versionId: string,
  sequence: string,
  operation: ReplicationTask['entry']['operation'] = 'put',
): ReplicationTask {
  return {
    entry: {
      bucket: 'b',
      key: 'k',
      versionId,
      operation,
      size: 1,
      eventTime: '2026-11-25T00:00:00.000Z',
      sequence,
    },
    target: { site: 's', bucket: 'tb', ruleId: 'r', replicateDeleteMarkers: true },
  };
}
const outcome = (t: ReplicationTask, extra: Partial<ReplicationOutcome> = {}): ReplicationOutcome => ({
  identity: taskIdentity(t),
  bytes: 1,
  attempts: 1,
  ...extra,
});

const started = (carried?: unknown): HistoryEvent => ({
  eventTime: at(),
  workflowExecutionStartedEventAttributes: {
    input: { payloads: [payload({ site: 's', bucket: 'b', key: 'k', settings: {}, carried })] },
  },
});
const signaled = (signalName: string, args: unknown[]): HistoryEvent => ({
  eventTime: at(),
  workflowExecutionSignaledEventAttributes: { signalName, input: { payloads: args.map(payload) } },
});
const localActivity = (result: ReplicationOutcome): HistoryEvent => ({
  eventTime: at(),
  markerRecordedEventAttributes: {
    markerName: 'core_local_activity',
    details: { data: { payloads: [payload({ seq: 1 })] }, result: { payloads: [payload(result)] } },
  },
});
const scheduled = (activityId: string): HistoryEvent => ({
  eventTime: at(),
  activityTaskScheduledEventAttributes: { activityId },
});
const activityCompleted = (result: ReplicationOutcome): HistoryEvent => ({
  eventTime: at(),
  activityTaskCompletedEventAttributes: { result: { payloads: [payload(result)] } },
});
const memo = (failed: unknown[]): HistoryEvent => ({
  eventTime: at(),
  workflowPropertiesModifiedEventAttributes: {
    upsertedMemo: { fields: { [FAILED_MEMO]: payload({ failedCount: failed.length, failed }) } },
  },
});

describe('rebuilding a run from its history (status without a worker)', () => {
  const v1 = task('v1', '1');
  const dm = task('d1', '2', 'delete-marker');
  const v2 = task('v2', '3');

  test('signals queue versions; local and regular activity results complete them by identity', () => {
    const state = stateFromHistory([
      started(),
      signaled('replicationTasks', [[v1, dm, v1]]),
      signaled('replicationTask', [v2]),
      localActivity(outcome(v1, { targetVersionId: 't1' })),
      localActivity(outcome(dm, { detail: 'already replicated' })),
      scheduled(`${taskIdentity(v2)}#1@2`),
    ]);
    expect(state.versions.map((v) => [v.versionId, v.status])).toEqual([
      ['v1', 'COMPLETED'],
      ['d1', 'COMPLETED'],
      ['v2', 'PROCESSING'],
    ]);
    expect(state.versions[0]!.targetVersionId).toBe('t1');
    expect(state.versions[1]!.detail).toBe('already replicated');
  });

  test('a pending activity shows its attempt (after the local ones), next retry time and last error', () => {
    const state = stateFromHistory(
      [started(), signaled('replicationTasks', [[v2]]), scheduled(`${taskIdentity(v2)}#1@2`)],
      [
        {
          activityId: `${taskIdentity(v2)}#1@2`,
          attempt: 3,
          lastFailure: { message: 'connect ECONNREFUSED' },
          nextAttemptScheduleTime: { seconds: 1_800_000_000 as never, nanos: 0 },
        },
      ],
    );
    expect(state.versions[0]).toMatchObject({
      status: 'PROCESSING',
      attempts: 5,
      reason: 'connect ECONNREFUSED',
      nextAttemptAt: new Date(1_800_000_000_000).toISOString(),
    });
  });

  test('FAILED comes from the memo; a retry signal queues it again; a later result completes it', () => {
    const failedMemo = {
      versionId: 'v1',
      operation: 'put',
      sequence: '1',
      reason: 'AccessDenied',
      attempts: 1,
    };
    const failed = stateFromHistory([started(), signaled('replicationTasks', [[v1]]), memo([failedMemo])]);
    expect(failed.versions[0]).toMatchObject({ status: 'FAILED', reason: 'AccessDenied' });
    expect(failed.queue).toHaveLength(0);

    const retried = stateFromHistory([
      started(),
      signaled('replicationTasks', [[v1]]),
      memo([failedMemo]),
      signaled('retryFailed', []),
      memo([]),
    ]);
    expect(retried.versions[0]).toMatchObject({ status: 'PENDING' });
    expect(retried.queue[0]).toMatchObject({ retry: true });

    const recovered = stateFromHistory([
      started(),
      signaled('replicationTasks', [[v1]]),
      memo([failedMemo]),
      signaled('retryFailed', []),
      activityCompleted(outcome(v1, { attempts: 2 })),
    ]);
    expect(recovered.versions[0]).toMatchObject({ status: 'COMPLETED', attempts: 2 });
  });

  test('a run started by continue-as-new begins from the carried state', () => {
    const carried = {
      queue: [{ ...v2, entry: { ...v2.entry, bucket: undefined, key: undefined } }],
      versions: [
        {
          versionId: 'v1',
          operation: 'put',
          sequence: '1',
          status: 'COMPLETED',
          attempts: 1,
          pendingAt: 'x',
        },
        { versionId: 'v2', operation: 'put', sequence: '3', status: 'PENDING', attempts: 0, pendingAt: 'x' },
      ],
      seen: [taskIdentity(v1), taskIdentity(v2)],
    };
    const state = stateFromHistory([
      started(carried),
      signaled('replicationTasks', [[v1]]),
      localActivity(outcome(v2)),
    ]);
    expect(state.versions.map((v) => [v.versionId, v.status])).toEqual([
      ['v1', 'COMPLETED'],
      ['v2', 'COMPLETED'],
    ]);
  });

  test('activity ids name their version and the attempts already used', () => {
    expect(parseActivityId('v1|put|12#3@2')).toEqual({ identity: 'v1|put|12', attemptsUsed: 2 });
    expect(parseActivityId('null|delete-marker|9#1@0')).toEqual({
      identity: 'null|delete-marker|9',
      attemptsUsed: 0,
    });
    expect(parseActivityId('7')).toBeUndefined();
  });
});

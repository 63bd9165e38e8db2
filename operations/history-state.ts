/**
 * Rebuilds a replication workflow's state from what the Temporal server holds (the run's
 * history, its memo and its pending activities), with the same bookkeeping the workflow
 * uses, so `replication status` and `failed` answer at once with every worker stopped,
 * where a query would wait for a worker.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type {
  ReplicateKeyInput,
  ReplicateKeyState,
  ReplicationOutcome,
  ReplicationTask,
} from '../shared/replication-task';
import { taskIdentity } from '../shared/replication-task';
import {
  FAILED_MEMO,
  replicationTaskSignal,
  replicationTasksSignal,
  retryFailedSignal,
  dismissFailedSignal,
  type FailedMemo,
} from '../shared/workflow-contract';
import { VersionBook } from '../workflows/version-book';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payload = temporal.api.common.v1.IPayload;
type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

function decode<T>(payload: Payload | null | undefined): T | undefined {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload<T>(payload as never);
  } catch {
    return undefined;
  }
}

function timeOf(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return undefined;
  const seconds = Number(ts.seconds);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

/** Regular activity ids are `<task identity>#<n>@<attempts already used>` (workflows/replicate-key.ts). */
export function parseActivityId(activityId: string): { identity: string; attemptsUsed: number } | undefined {
  const m = /^(.*)#\d+(?:@(\d+))?$/s.exec(activityId);
  return m ? { identity: m[1]!, attemptsUsed: Number(m[2] ?? 0) } : undefined;
}

/** The state a run had reached, from its history events (oldest first) and pending activities. */
export function stateFromHistory(events: HistoryEvent[], pending: PendingActivity[] = []): ReplicateKeyState {
  let book = new VersionBook();
  const tasks = new Map<string, ReplicationTask>();
  // The regular activity's task under way (a local one leaves no trace until it completes).
  let running: ReplicationTask | undefined;
  const remember = (list: ReplicationTask[]) => list.forEach((t) => tasks.set(taskIdentity(t), t));
  const complete = (outcome: ReplicationOutcome | undefined, at: string) => {
    if (!outcome?.identity) return;
    book.complete(outcome.identity, outcome, outcome.attempts, at);
    book.completeAhead(outcome.appliedAhead ?? [], at);
  };
  for (const event of events) {
    const at = timeOf(event.eventTime) ?? new Date(0).toISOString();
    const started = event.workflowExecutionStartedEventAttributes;
    if (started) {
      const input = decode<ReplicateKeyInput>(started.input?.payloads?.[0]);
      book = new VersionBook(input?.carried, input);
      remember(book.queue);
      continue;
    }
    const signaled = event.workflowExecutionSignaledEventAttributes;
    if (signaled) {
      const args = signaled.input?.payloads ?? [];
      if (signaled.signalName === replicationTasksSignal.name) {
        const list = decode<ReplicationTask[]>(args[0]) ?? [];
        remember(list);
        book.admit(list, at, running);
      } else if (signaled.signalName === replicationTaskSignal.name) {
        const one = decode<ReplicationTask>(args[0]);
        if (one) {
          remember([one]);
          book.admit([one], at, running);
        }
      } else if (signaled.signalName === retryFailedSignal.name) {
        book.retryFailed(at);
      } else if (signaled.signalName === dismissFailedSignal.name) {
        book.dismissFailed(decode<{ reason?: string }>(args[0])?.reason, at);
      }
      continue;
    }
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName === LOCAL_ACTIVITY_MARKER) {
      complete(decode<ReplicationOutcome>(marker.details?.result?.payloads?.[0]), at);
      continue;
    }
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const parsed = parseActivityId(scheduled.activityId ?? '');
      const task = parsed ? tasks.get(parsed.identity) : undefined;
      if (task) book.begin(task, at);
      running = task;
      continue;
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      running = undefined;
      complete(decode<ReplicationOutcome>(completed.result?.payloads?.[0]), at);
      continue;
    }
    const modified = event.workflowPropertiesModifiedEventAttributes;
    const memo = decode<FailedMemo>(modified?.upsertedMemo?.fields?.[FAILED_MEMO]);
    if (memo) book.failFromMemo(memo.failed, at, (identity) => tasks.get(identity));
  }
  for (const activity of pending) {
    const parsed = parseActivityId(activity.activityId ?? '');
    if (!parsed) continue;
    const attempt = activity.attempt ?? 1;
    // Attempt n is running now; when the last one failed, the next waits for its time.
    book.retrying(
      parsed.identity,
      parsed.attemptsUsed + attempt,
      activity.lastFailure?.message ?? undefined,
      timeOf(activity.nextAttemptScheduleTime),
    );
  }
  return book.snapshot();
}

import { statusEvent, type StatusEvent } from '../shared/status-event';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';

/** An attempt running this long is announced as PROCESSING on the status topic. */
export const PROCESSING_AFTER_MS = 1_000;

/**
 * What one activity attempt publishes on the status topic. A quick first attempt goes
 * PENDING → COMPLETED: PROCESSING is published for a retry, for an attempt that fails and
 * once an attempt outlasts `afterMs`, so a small copy costs the topic one event fewer (the
 * engine's status is Temporal's; the topic is for observers, who still see every attempt
 * that is slow or retried). Events of one attempt keep their order.
 */
export function announceAttempt(
  publish: (events: StatusEvent[]) => Promise<void>,
  task: ReplicationTask,
  attempt: number,
  afterMs = PROCESSING_AFTER_MS,
) {
  let processing: Promise<void> | undefined;
  const publishProcessing = () => {
    processing ??= publish([statusEvent(task, 'PROCESSING', { attempt })]);
    return processing;
  };
  // A retry is announced at once, a first attempt only once it is slow.
  let slow: NodeJS.Timeout | undefined;
  if (attempt > 1) void publishProcessing();
  else slow = setTimeout(publishProcessing, afterMs);
  return {
    async completed(outcome: ReplicationOutcome): Promise<void> {
      clearTimeout(slow);
      await processing;
      await publish([
        statusEvent(task, 'COMPLETED', {
          attempt,
          detail: outcome.detail,
          targetVersionId: outcome.targetVersionId,
        }),
      ]);
    },
    async failed(): Promise<void> {
      clearTimeout(slow);
      await publishProcessing();
    },
  };
}

import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReplicationActivities } from '../activities';
import { statusEvent } from '../shared/status-event';
import type {
  ReplicateKeyInput,
  ReplicateKeyState,
  ReplicationOutcome,
  ReplicationStatus,
  ReplicationTask,
  VersionStatus,
} from '../shared/replication-task';
import { taskIdentity } from '../shared/replication-task';
import { CRR_STATUS } from '../shared/search-attributes';
import {
  replicationStateQuery,
  replicationTaskSignal,
  retryFailedSignal,
  type ReplicateKeyResult,
} from '../shared/workflow-contract';

// Bounds on what a run carries over continue-as-new, so history and payloads stay small.
const CARRIED_VERSIONS = 100;
const CARRIED_IDENTITIES = 1000;

/**
 * Applies one key's versions to one destination site in journal order. One workflow per
 * (site, bucket, key) gives ordering within a key and parallelism across keys for free.
 * The run completes once every version is COMPLETED; while a version is FAILED it stays
 * open (CrrStatus = FAILED) until `replication retry` or new versions arrive.
 */
export async function replicateKeyWorkflow(input: ReplicateKeyInput): Promise<ReplicateKeyResult> {
  const { settings } = input;
  const state: ReplicateKeyState = input.carried ?? { queue: [], versions: [], seen: [] };
  const seen = new Set(state.seen);
  const now = () => new Date().toISOString();

  setHandler(replicationTaskSignal, (task) => {
    const identity = taskIdentity(task);
    if (seen.has(identity) && !task.retry) return; // a duplicate journal delivery
    seen.add(identity);
    state.queue.push(task);
    state.versions.push({
      versionId: task.entry.versionId,
      operation: task.entry.operation,
      sequence: task.entry.sequence,
      status: 'PENDING',
      attempts: 0,
      pendingAt: now(),
    });
  });
  setHandler(retryFailedSignal, () => {
    for (const version of state.versions) {
      if (version.status !== 'FAILED' || !version.task) continue;
      state.queue.push({ ...version.task, retry: true });
      Object.assign(version, { status: 'PENDING', reason: undefined, task: undefined, pendingAt: now() });
    }
  });
  setHandler(replicationStateQuery, () => ({ ...state, seen: [...seen].slice(-CARRIED_IDENTITIES) }));

  const retry = {
    initialInterval: settings.initialRetryIntervalMs,
    maximumInterval: settings.maxRetryIntervalMs,
    backoffCoefficient: 2,
    maximumAttempts: settings.maxAttempts,
  };
  const quick = proxyActivities<ReplicationActivities>({ startToCloseTimeout: '10 minutes', retry });
  // Small changes run in the workflow's own worker: one marker event instead of three, no
  // round trip through the task queue. Large copies need heartbeats (resumable multipart).
  const local = proxyLocalActivities<ReplicationActivities>({ startToCloseTimeout: '5 minutes', retry });
  const large = proxyActivities<ReplicationActivities>({
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: '2 minutes',
    retry,
  });

  // CrrStatus is written only once a key has failed (FAILED, then PROCESSING on retry, then
  // COMPLETED): a key that never fails costs no upsert event and no visibility write, and its
  // execution status (Running/Completed) already says where it is.
  let currentStatus = workflowInfo().typedSearchAttributes.get(CRR_STATUS) as ReplicationStatus | undefined;
  const setKeyStatus = (status: ReplicationStatus) => {
    if (status === currentStatus) return;
    if (currentStatus === undefined && status !== 'FAILED') return;
    upsertSearchAttributes([{ key: CRR_STATUS, value: status }]);
    currentStatus = status;
  };

  // The replica's version id of each source version, so that tag changes need no lookup.
  const replicaOf = (versionId: string) =>
    state.versions.find((v) => v.versionId === versionId && v.operation === 'put' && v.targetVersionId)
      ?.targetVersionId;

  const apply = (task: ReplicationTask): Promise<ReplicationOutcome> => {
    switch (task.entry.operation) {
      case 'put':
        // Multipart copies heartbeat their progress (resumable): only regular activities can.
        if (task.entry.size > settings.multipartThresholdBytes) return large.copyObjectVersion(task);
        return (task.entry.size <= settings.localActivityMaxBytes ? local : quick).copyObjectVersion(task);
      case 'metadata':
        return (settings.localActivityMaxBytes > 0 ? local : quick).replicateObjectTags(
          task,
          replicaOf(task.entry.versionId),
        );
      case 'delete-marker':
        return (settings.localActivityMaxBytes > 0 ? local : quick).replicateDeleteMarker(task);
      case 'delete-version':
        // The populator never sends these (AWS does not replicate version deletes).
        throw ApplicationFailure.nonRetryable('version deletes are not replicated');
    }
  };

  let handled = 0;
  for (;;) {
    while (state.queue.length > 0) {
      const task = state.queue.shift()!;
      const identity = taskIdentity(task);
      const version = [...state.versions]
        .reverse()
        .find((v) => `${v.versionId}|${v.operation}|${v.sequence}` === identity && v.status === 'PENDING');
      const status: VersionStatus =
        version ??
        ({
          versionId: task.entry.versionId,
          operation: task.entry.operation,
          sequence: task.entry.sequence,
          attempts: 0,
          pendingAt: now(),
        } as VersionStatus);
      if (!version) state.versions.push(status);
      Object.assign(status, { status: 'PROCESSING', startedAt: now() });
      try {
        const outcome = await apply(task);
        Object.assign(status, {
          status: 'COMPLETED',
          attempts: outcome.attempts,
          targetVersionId: outcome.targetVersionId,
          detail: outcome.detail,
          finishedAt: now(),
        });
      } catch (err) {
        const reason =
          err instanceof ActivityFailure ? (err.cause?.message ?? err.message) : (err as Error).message;
        const exhausted = err instanceof ActivityFailure && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED';
        Object.assign(status, {
          status: 'FAILED',
          reason: exhausted ? `gave up after ${settings.maxAttempts} attempts: ${reason}` : reason,
          attempts: exhausted ? settings.maxAttempts : Math.max(1, status.attempts),
          finishedAt: now(),
          task,
        });
        setKeyStatus('FAILED');
        await quick.publishReplicationStatus([statusEvent(task, 'FAILED', { reason: status.reason })]);
      }
      handled++;
      if (
        state.queue.length > 0 &&
        (handled >= settings.continueAsNewAfterVersions || workflowInfo().continueAsNewSuggested)
      ) {
        await condition(allHandlersFinished);
        const failed = state.versions.filter((v) => v.status === 'FAILED');
        const recent = state.versions.filter((v) => v.status !== 'FAILED').slice(-CARRIED_VERSIONS);
        await continueAsNew<typeof replicateKeyWorkflow>({
          ...input,
          carried: {
            queue: state.queue,
            versions: [...failed, ...recent],
            seen: [...seen].slice(-CARRIED_IDENTITIES),
          },
        });
      }
    }
    await condition(allHandlersFinished);
    if (state.queue.length > 0) continue;
    const anyFailed = state.versions.some((v) => v.status === 'FAILED');
    setKeyStatus(anyFailed ? 'FAILED' : 'COMPLETED');
    if (!anyFailed) return { versions: state.versions };
    // Stay visible as FAILED until an operator retries or the key gets new versions.
    await condition(() => state.queue.length > 0);
    setKeyStatus('PROCESSING');
  }
}

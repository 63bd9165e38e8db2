import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ReplicateKeyState, ReplicationTask, VersionStatus } from './replication-task';

/** Signal and query definitions shared by the populator, the CLI and the workflow. */

/**
 * The populator's signal: a key's tasks of one journal chunk, in journal order. One signal
 * per key and chunk keeps the history short and lets a burst on one key go out in a few
 * requests (at most MAX_TASKS_PER_SIGNAL tasks each, to bound the payload).
 */
export const replicationTasksSignal = defineSignal<[ReplicationTask[]]>('replicationTasks');
export const MAX_TASKS_PER_SIGNAL = 100;
/** One task (older populators, and operators sending a task by hand). */
export const replicationTaskSignal = defineSignal<[ReplicationTask]>('replicationTask');
/** Sends every FAILED version of the key back to the queue (`replication retry`). */
export const retryFailedSignal = defineSignal<[]>('retryFailed');
export const replicationStateQuery = defineQuery<ReplicateKeyState>('replicationState');

export const REPLICATE_KEY_WORKFLOW = 'replicateKeyWorkflow';

/** What a finished run returns: every version it handled, with its final status. */
export interface ReplicateKeyResult {
  versions: VersionStatus[];
}

export function taskQueueFor(prefix: string, site: string): string {
  return `${prefix}-${site}`;
}

/**
 * Memo field the workflow writes only when its key has FAILED versions (and when they
 * recover), so that `replication failed` and `status` can list them from the Temporal
 * server alone, without a worker to answer a query.
 */
export const FAILED_MEMO = 'crrFailed';

export interface FailedVersionMemo {
  versionId: string;
  operation: VersionStatus['operation'];
  sequence: string;
  reason: string;
  attempts: number;
  finishedAt?: string;
}

export interface FailedMemo {
  failedCount: number;
  failed: FailedVersionMemo[];
}

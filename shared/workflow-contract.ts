import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ReplicateKeyState, ReplicationTask, VersionStatus } from './replication-task';

/** Signal and query definitions shared by the populator, the CLI and the workflow. */
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

import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BackfillReport, BackfillState } from './backfill';
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
/**
 * Ends the key's FAILED versions that can never succeed (`replication dismiss`): each is
 * recorded COMPLETED "not replicated: dismissed by an operator", with its last reason.
 */
export const dismissFailedSignal = defineSignal<[{ reason?: string }]>('dismissFailed');
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
  /** Times it ended FAILED, across retries (only when more than once), and the first time. */
  failures?: number;
  firstFailedAt?: string;
}

export interface FailedMemo {
  failedCount: number;
  failed: FailedVersionMemo[];
}

/**
 * Pause and resume of a destination site. One long-running control workflow per site
 * (`crr-control/<prefix>/<site>`, on the `<prefix>-control` task queue) holds the state durably and
 * runs the scheduled resume as a timer; it mirrors the state in its memo (SITE_CONTROL_MEMO)
 * so that workers and operators read it from the server without a worker answering a query.
 */
export const SITE_CONTROL_WORKFLOW = 'siteControlWorkflow';
export const SITE_CONTROL_MEMO = 'crrSiteControl';

export interface PauseRequest {
  /** Resume on its own after this many hours (fractions allowed); paused until `resume` without it. */
  hours?: number;
  /** Who or why, shown by `status` and the API. */
  reason?: string;
}

export interface SiteControlState {
  site: string;
  paused: boolean;
  /** When the current pause began (ISO 8601). */
  pausedAt?: string;
  /** When a scheduled resume will happen (ISO 8601). */
  resumeAt?: string;
  reason?: string;
  /** When the state last changed (ISO 8601). */
  changedAt?: string;
}

export const pauseSiteSignal = defineSignal<[PauseRequest]>('pauseSite');
export const resumeSiteSignal = defineSignal<[]>('resumeSite');
export const siteControlStateQuery = defineQuery<SiteControlState>('siteControlState');

/** Per task-queue prefix, so that engines sharing a namespace keep their own pause state. */
export function siteControlWorkflowId(prefix: string, site: string): string {
  return `crr-control/${prefix}/${site}`;
}

export function controlTaskQueue(prefix: string): string {
  return `${prefix}-control`;
}

/**
 * A key workflow's outcomes for the versions a backfill submitted (once per key and batch),
 * so the backfill counts them and keeps its window of work in flight.
 */
export const backfillReportsSignal = defineSignal<[BackfillReport[]]>('backfillReports');
/** The backfill's request and progress (the memo `crrBackfill` holds the same, as of the last page). */
export const backfillProgressQuery = defineQuery<BackfillState>('backfillProgress');

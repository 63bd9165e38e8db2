import type { Client } from '@temporalio/client';
import type { EngineConfig } from '../config/engine-config';
import type { ReplicateKeyInput, ReplicationTask } from '../shared/replication-task';
import { CRR_BUCKET, CRR_KEY, CRR_SITE } from '../shared/search-attributes';
import {
  MAX_TASKS_PER_SIGNAL,
  REPLICATE_KEY_WORKFLOW,
  replicationTasksSignal,
  taskQueueFor,
} from '../shared/workflow-contract';
import { replicationWorkflowId, searchableKey } from '../shared/workflow-id';

/** How tasks reach the per-key replication workflows: the populator's journal and backfills share it. */

/**
 * Small copies run as local activities inside a workflow task; a longer task timeout spares
 * the heartbeat tasks the SDK adds to the history when one of them is slow. It also sets when
 * another worker may take over a frozen worker's key (clients/s3-expiring-writes.ts).
 */
export const WORKFLOW_TASK_TIMEOUT = '30 seconds';

export function replicationSettings(config: EngineConfig): ReplicateKeyInput['settings'] {
  const p = config.policy;
  return {
    maxAttempts: p.maxAttempts,
    initialRetryIntervalMs: p.initialRetryIntervalMs,
    maxRetryIntervalMs: p.maxRetryIntervalMs,
    multipartThresholdBytes: p.multipartThresholdBytes,
    localActivityMaxBytes: p.localActivityMaxBytes,
    continueAsNewAfterVersions: p.continueAsNewAfterVersions,
  };
}

/** One workflow's share of a chunk: its tasks in journal order, cut into signals. */
export interface KeySignals<T> {
  workflowId: string;
  /** Each piece is one signal of at most MAX_TASKS_PER_SIGNAL tasks; pieces go out in order. */
  pieces: T[][];
}

/**
 * Groups a chunk's tasks by workflow (destination site, bucket, key), keeping journal order
 * within each, and cuts each group into signals of at most `max` tasks. Keys come out in
 * the order of their first task.
 */
export function tasksBySignal<T>(
  items: readonly T[],
  taskOf: (item: T) => ReplicationTask,
  max = MAX_TASKS_PER_SIGNAL,
): KeySignals<T>[] {
  const byWorkflow = new Map<string, T[]>();
  for (const item of items) {
    const { entry, target } = taskOf(item);
    const id = replicationWorkflowId(target.site, entry.bucket, entry.key, entry.sourceSite);
    let list = byWorkflow.get(id);
    if (!list) byWorkflow.set(id, (list = []));
    list.push(item);
  }
  return [...byWorkflow].map(([workflowId, list]) => {
    const pieces: T[][] = [];
    for (let i = 0; i < list.length; i += max) pieces.push(list.slice(i, i + max));
    return { workflowId, pieces };
  });
}

/**
 * Signal-with-start: delivers a key's tasks (one workflow, journal order, at most
 * MAX_TASKS_PER_SIGNAL) in one request, starting the workflow when no run is open. Search
 * attributes are set at start, so finding a replication costs no extra event.
 */
export async function signalReplicationTasks(
  client: Client,
  config: EngineConfig,
  tasks: ReplicationTask[],
): Promise<string> {
  const first = tasks[0];
  if (!first) throw new Error('signalReplicationTasks needs at least one task');
  if (tasks.length > MAX_TASKS_PER_SIGNAL) {
    throw new Error(`at most ${MAX_TASKS_PER_SIGNAL} tasks per signal, got ${tasks.length}`);
  }
  const { entry, target } = first;
  const workflowId = replicationWorkflowId(target.site, entry.bucket, entry.key, entry.sourceSite);
  for (const task of tasks) {
    if (
      replicationWorkflowId(task.target.site, task.entry.bucket, task.entry.key, task.entry.sourceSite) !==
      workflowId
    )
      throw new Error(`one signal carries the tasks of one workflow (${workflowId})`);
  }
  await client.workflow.signalWithStart(REPLICATE_KEY_WORKFLOW, {
    workflowId,
    taskQueue: taskQueueFor(config.temporal.taskQueuePrefix, target.site),
    args: [
      { site: target.site, bucket: entry.bucket, key: entry.key, settings: replicationSettings(config) },
    ],
    signal: replicationTasksSignal,
    signalArgs: [tasks],
    workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
    // What the Temporal Web UI shows as the run's title.
    staticSummary: `${entry.sourceSite !== undefined ? `${entry.sourceSite}: ` : ''}s3://${entry.bucket}/${entry.key} → ${target.site}`,
    typedSearchAttributes: [
      { key: CRR_BUCKET, value: entry.bucket },
      { key: CRR_KEY, value: searchableKey(entry.key) },
      { key: CRR_SITE, value: target.site },
    ],
  });
  return workflowId;
}

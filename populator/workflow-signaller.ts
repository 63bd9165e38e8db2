import type { Client } from '@temporalio/client';
import type { EngineConfig } from '../config/engine-config';
import type { ReplicateKeyInput, ReplicationTask } from '../shared/replication-task';
import { CRR_BUCKET, CRR_KEY, CRR_SITE } from '../shared/search-attributes';
import { REPLICATE_KEY_WORKFLOW, replicationTaskSignal, taskQueueFor } from '../shared/workflow-contract';
import { replicationWorkflowId } from '../shared/workflow-id';

export function replicationSettings(config: EngineConfig): ReplicateKeyInput['settings'] {
  const w = config.worker;
  return {
    maxAttempts: w.maxAttempts,
    initialRetryIntervalMs: w.initialRetryIntervalMs,
    maxRetryIntervalMs: w.maxRetryIntervalMs,
    multipartThresholdBytes: w.multipartThresholdBytes,
    localActivityMaxBytes: w.localActivityMaxBytes,
    continueAsNewAfterVersions: w.continueAsNewAfterVersions,
  };
}

/**
 * Signal-with-start: delivers the task to the key's workflow, starting it when no run is
 * open. Search attributes are set at start, so finding a replication costs no extra event.
 */
export async function signalReplicationTask(
  client: Client,
  config: EngineConfig,
  task: ReplicationTask,
): Promise<string> {
  const { entry, target } = task;
  const workflowId = replicationWorkflowId(target.site, entry.bucket, entry.key);
  await client.workflow.signalWithStart(REPLICATE_KEY_WORKFLOW, {
    workflowId,
    taskQueue: taskQueueFor(config.temporal.taskQueuePrefix, target.site),
    args: [
      { site: target.site, bucket: entry.bucket, key: entry.key, settings: replicationSettings(config) },
    ],
    signal: replicationTaskSignal,
    signalArgs: [task],
    // Small copies run as local activities inside a workflow task; a longer task timeout spares
    // the heartbeat tasks the SDK adds to the history when one of them is slow.
    workflowTaskTimeout: '30 seconds',
    typedSearchAttributes: [
      { key: CRR_BUCKET, value: entry.bucket },
      { key: CRR_KEY, value: entry.key },
      { key: CRR_SITE, value: target.site },
    ],
  });
  return workflowId;
}

/** Temporal refused the request itself (bad id, payload too large): retrying cannot help. */
export function isPermanentTemporalError(err: unknown): boolean {
  const e = err as { code?: number; cause?: { code?: number } };
  const code = e?.code ?? e?.cause?.code;
  const INVALID_ARGUMENT = 3;
  const FAILED_PRECONDITION = 9;
  const OUT_OF_RANGE = 11;
  return code === INVALID_ARGUMENT || code === FAILED_PRECONDITION || code === OUT_OF_RANGE;
}

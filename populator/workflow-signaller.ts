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
import { replicationWorkflowId } from '../shared/workflow-id';

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
    const id = replicationWorkflowId(target.site, entry.bucket, entry.key);
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
  const workflowId = replicationWorkflowId(target.site, entry.bucket, entry.key);
  for (const task of tasks) {
    if (replicationWorkflowId(task.target.site, task.entry.bucket, task.entry.key) !== workflowId)
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
    // Small copies run as local activities inside a workflow task; a longer task timeout spares
    // the heartbeat tasks the SDK adds to the history when one of them is slow.
    workflowTaskTimeout: '30 seconds',
    // What the Temporal Web UI shows as the run's title.
    staticSummary: `s3://${entry.bucket}/${entry.key} → ${target.site}`,
    typedSearchAttributes: [
      { key: CRR_BUCKET, value: entry.bucket },
      { key: CRR_KEY, value: entry.key },
      { key: CRR_SITE, value: target.site },
    ],
  });
  return workflowId;
}

/**
 * How the populator treats a failed request to Temporal:
 * - `unavailable`: Temporal as a whole cannot be used (unreachable, timing out, unknown
 *   namespace, credentials): consumption waits with backoff and skips nothing.
 * - `refused`: this request, for this key, was refused (throttled, busy workflow, a
 *   per-workflow limit, an internal error): bounded retries, then the tasks are dead-lettered.
 * - `permanent`: the request itself is invalid: dead-lettered at once.
 */
export type TemporalErrorClass = 'unavailable' | 'refused' | 'permanent';

const GRPC = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const GRPC_NAMES = Object.fromEntries(Object.entries(GRPC).map(([name, code]) => [code, name]));

interface GrpcLike {
  code?: unknown;
  details?: unknown;
  message?: unknown;
  cause?: GrpcLike;
}

function grpcCode(err: unknown): number | undefined {
  let current = err as GrpcLike | undefined;
  for (let depth = 0; current && depth < 4; depth++, current = current.cause) {
    if (typeof current.code === 'number') return current.code;
  }
  return undefined;
}

/** The server's own words, e.g. "RESOURCE_EXHAUSTED: namespace rate limit exceeded". */
export function describeTemporalError(err: unknown): string {
  const parts: string[] = [];
  let current = err as GrpcLike | undefined;
  for (let depth = 0; current && depth < 4; depth++, current = current.cause) {
    // The gRPC error's details say it best; the client's wrapper only says what it was doing.
    if (typeof current.code === 'number' && typeof current.details === 'string' && current.details) {
      parts.length = 0;
      parts.push(current.details);
      break;
    }
    if (typeof current.message === 'string' && current.message && !parts.includes(current.message))
      parts.push(current.message);
  }
  const code = grpcCode(err);
  const name = code === undefined ? undefined : GRPC_NAMES[code];
  return `${name ? `${name}: ` : ''}${parts.join(': ') || String(err)}`.slice(0, 1000);
}

export function classifyTemporalError(err: unknown): TemporalErrorClass {
  const code = grpcCode(err);
  switch (code) {
    case undefined: // no answer from the server: connection refused, reset, DNS
    case GRPC.UNAVAILABLE:
    case GRPC.DEADLINE_EXCEEDED:
    case GRPC.CANCELLED:
    case GRPC.NOT_FOUND: // namespace not found
    case GRPC.PERMISSION_DENIED:
    case GRPC.UNAUTHENTICATED:
    case GRPC.UNIMPLEMENTED:
      return 'unavailable';
    case GRPC.INVALID_ARGUMENT:
      // Temporal reports the per-workflow signal limit as an invalid argument ("exceeded
      // workflow execution limit for signal events"); the next run (continue-as-new) accepts.
      return /workflow execution limit/i.test(describeTemporalError(err)) ? 'refused' : 'permanent';
    case GRPC.OUT_OF_RANGE:
      return 'permanent';
    default:
      return 'refused';
  }
}

/** Temporal refused the request itself (bad id, payload too large): retrying cannot help. */
export function isPermanentTemporalError(err: unknown): boolean {
  return classifyTemporalError(err) === 'permanent';
}

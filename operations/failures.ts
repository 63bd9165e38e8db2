import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import {
  dismissFailedSignal,
  FAILED_MEMO,
  retryFailedSignal,
  type FailedMemo,
} from '../shared/workflow-contract';
import { CRR_BUCKET, CRR_KEY, CRR_SITE, CRR_STATUS } from '../shared/search-attributes';
import { searchableKey } from '../shared/workflow-id';
import { queryLiteral } from './backlog';

export interface FailedReplication {
  workflowId: string;
  bucket: string;
  key: string;
  site: string;
  failed: Array<{
    versionId: string;
    operation: string;
    reason?: string;
    attempts?: number;
    finishedAt?: string;
  }>;
  /** FAILED versions of the key in all (the memo lists the most recent ones). */
  failedCount: number;
}

/** Which replication a listed run is, from its search attributes. */
function replicationOf(run: WorkflowExecutionInfo): {
  workflowId: string;
  bucket: string;
  key: string;
  site: string;
} {
  const attributes = run.typedSearchAttributes;
  return {
    workflowId: run.workflowId,
    bucket: attributes.get(CRR_BUCKET) ?? '?',
    key: attributes.get(CRR_KEY) ?? '?',
    site: attributes.get(CRR_SITE) ?? '?',
  };
}

const FAILED_KEYS = `CrrStatus = 'FAILED' AND ExecutionStatus = 'Running'`;
const ENDED_KEYS = `(ExecutionStatus = 'Terminated' OR ExecutionStatus = 'Canceled')`;

/** Replication runs in `state` (a visibility clause), narrowed to a site, bucket or key. */
function keysQuery(state: string, filters: { site?: string; bucket?: string; key?: string }): string {
  const quote = queryLiteral;
  return [
    state,
    filters.site && `CrrSite = ${quote(filters.site)}`,
    filters.bucket && `CrrBucket = ${quote(filters.bucket)}`,
    filters.key && `CrrKey = ${quote(searchableKey(filters.key))}`,
  ]
    .filter(Boolean)
    .join(' AND ');
}

/**
 * Every key with a FAILED version (its workflow stays open until retried), page by page,
 * from the visibility store and each workflow's memo: no worker has to answer.
 */
export async function listFailed(
  client: Client,
  filters: { site?: string; bucket?: string; key?: string },
  limit = 1000,
  /** Keys to skip first (paging: the next page starts at offset + limit). */
  offset = 0,
): Promise<FailedReplication[]> {
  const found: FailedReplication[] = [];
  let skipped = 0;
  for await (const run of client.workflow.list({ query: keysQuery(FAILED_KEYS, filters) })) {
    if (skipped < offset) {
      skipped++;
      continue;
    }
    const memo = run.memo?.[FAILED_MEMO] as FailedMemo | undefined;
    found.push({
      ...replicationOf(run),
      failed: (memo?.failed ?? []).map((v) => ({
        versionId: v.versionId,
        operation: v.operation,
        reason: v.reason,
        attempts: v.attempts,
        finishedAt: v.finishedAt,
      })),
      failedCount: memo?.failedCount ?? 0,
    });
    if (found.length >= limit) break;
  }
  return found;
}

/** A key whose latest run was ended from the Temporal UI or CLI: nothing replicates it any more. */
export interface EndedReplication {
  workflowId: string;
  bucket: string;
  key: string;
  site: string;
  runStatus: 'TERMINATED' | 'CANCELLED';
}

/**
 * Keys whose latest run was terminated or cancelled (from the Temporal UI or CLI), so that
 * `replication failed` shows them too: their versions that were not COMPLETED are not being
 * replicated until a new version of the key arrives. Runs a newer run replaced are left out.
 */
export async function listEnded(
  client: Client,
  filters: { site?: string; bucket?: string; key?: string },
  limit = 1000,
): Promise<EndedReplication[]> {
  const found: EndedReplication[] = [];
  for await (const run of client.workflow.list({ query: keysQuery(ENDED_KEYS, filters) })) {
    const latest = await client.workflow.getHandle(run.workflowId).describe();
    if (latest.runId !== run.runId) continue;
    found.push({
      ...replicationOf(run),
      runStatus: run.status.name === 'CANCELLED' ? 'CANCELLED' : 'TERMINATED',
    });
    if (found.length >= limit) break;
  }
  return found;
}

/** Sends every FAILED version of the matching keys back to their workflows' queues. */
export async function retryFailed(
  client: Client,
  filters: { site?: string; bucket?: string; key?: string },
): Promise<number> {
  return (await retryFailedKeys(client, filters)).length;
}

/** As retryFailed; the workflow ids it signalled. */
export function retryFailedKeys(
  client: Client,
  filters: { site?: string; bucket?: string; key?: string },
): Promise<string[]> {
  return signalFailedKeys(client, filters, retryFailedSignal, []);
}

/**
 * Ends the FAILED versions of the matching keys that can never succeed: recorded as
 * dismissed (COMPLETED, "not replicated: dismissed by an operator"); returns the keys.
 */
export function dismissFailedKeys(
  client: Client,
  filters: { site?: string; bucket?: string; key?: string },
  reason?: string,
): Promise<string[]> {
  return signalFailedKeys(client, filters, dismissFailedSignal, [reason ? { reason } : {}]);
}

/** Sends `signal` to every key with FAILED versions that matches; the workflow ids signalled. */
async function signalFailedKeys<Args extends unknown[]>(
  client: Client,
  filters: { site?: string; bucket?: string; key?: string },
  signal: SignalDefinition<Args>,
  args: Args,
): Promise<string[]> {
  const signalled: string[] = [];
  for await (const run of client.workflow.list({ query: keysQuery(FAILED_KEYS, filters) })) {
    await client.workflow.getHandle(run.workflowId).signal(signal, ...args);
    signalled.push(run.workflowId);
  }
  return signalled;
}

export interface RetryOutcome {
  workflowId: string;
  /** COMPLETED: every version replicated; FAILED: some failed again; WAITING: not settled in time. */
  outcome: 'COMPLETED' | 'FAILED' | 'WAITING';
  failed: FailedMemo['failed'];
}

/**
 * Waits until each retried key has settled after `since` (when the retry was sent): its run
 * completed or its search attribute says COMPLETED, or it has FAILED versions whose failure
 * is newer than the retry. From the Temporal server alone (no query, no worker needed).
 */
export async function waitForRetries(
  client: Client,
  workflowIds: string[],
  since: Date,
  timeoutMs: number,
): Promise<RetryOutcome[]> {
  const deadline = Date.now() + timeoutMs;
  const settle = async (workflowId: string): Promise<RetryOutcome> => {
    for (;;) {
      const description = await client.workflow.getHandle(workflowId).describe();
      const memo = description.memo?.[FAILED_MEMO] as FailedMemo | undefined;
      const status = description.typedSearchAttributes.get(CRR_STATUS);
      const freshFailures = (memo?.failed ?? []).filter(
        (v) => v.finishedAt && Date.parse(v.finishedAt) >= since.getTime(),
      );
      if (description.status.name === 'COMPLETED' || status === 'COMPLETED') {
        return { workflowId, outcome: 'COMPLETED', failed: [] };
      }
      if (status === 'FAILED' && freshFailures.length > 0) {
        return { workflowId, outcome: 'FAILED', failed: freshFailures };
      }
      if (Date.now() > deadline) return { workflowId, outcome: 'WAITING', failed: [] };
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  return Promise.all(workflowIds.map(settle));
}

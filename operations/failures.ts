import type { Client } from '@temporalio/client';
import { FAILED_MEMO, retryFailedSignal, type FailedMemo } from '../shared/workflow-contract';

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

/** A string literal of Temporal's visibility query language. */
export const quoteVisibility = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function failedQuery(filters: { site?: string; bucket?: string; key?: string }): string {
  const quote = quoteVisibility;
  return [
    `CrrStatus = 'FAILED'`,
    `ExecutionStatus = 'Running'`,
    filters.site && `CrrSite = ${quote(filters.site)}`,
    filters.bucket && `CrrBucket = ${quote(filters.bucket)}`,
    filters.key && `CrrKey = ${quote(filters.key)}`,
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
  for await (const run of client.workflow.list({ query: failedQuery(filters) })) {
    if (skipped < offset) {
      skipped++;
      continue;
    }
    const attrs = run.typedSearchAttributes;
    const get = (name: string) =>
      attrs.getAll().find((p) => p.key.name === name)?.value as string | undefined;
    const memo = run.memo?.[FAILED_MEMO] as FailedMemo | undefined;
    found.push({
      workflowId: run.workflowId,
      bucket: get('CrrBucket') ?? '?',
      key: get('CrrKey') ?? '?',
      site: get('CrrSite') ?? '?',
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

/** Sends every FAILED version of the matching keys back to their workflows' queues. */
export async function retryFailed(
  client: Client,
  filters: { site?: string; bucket?: string; key?: string },
): Promise<number> {
  let count = 0;
  for await (const run of client.workflow.list({ query: failedQuery(filters) })) {
    await client.workflow.getHandle(run.workflowId).signal(retryFailedSignal);
    count++;
  }
  return count;
}

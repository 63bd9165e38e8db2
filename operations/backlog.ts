import type { SiteBacklog } from '../metrics/populator-metrics';
import { REPLICATE_KEY_WORKFLOW } from '../shared/workflow-contract';

/**
 * A destination site's backlog counted in Temporal's visibility store alone (no worker has to
 * answer): the populator's metrics and the API's site summaries share it.
 */

/** A string literal of Temporal's visibility query language. */
export function queryLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The replication runs of one task queue (one destination site of this engine) still open:
 * `pending` ones work through their versions (CrrStatus is written only once a key failed,
 * so it is absent or PROCESSING), `failed` ones wait for an operator. `startedBefore`
 * keeps the runs started before that time.
 */
export function backlogQuery(taskQueue: string, which: 'pending' | 'failed', startedBefore?: Date): string {
  const clauses = [
    `WorkflowType = ${queryLiteral(REPLICATE_KEY_WORKFLOW)}`,
    `TaskQueue = ${queryLiteral(taskQueue)}`,
    `ExecutionStatus = 'Running'`,
    which === 'failed' ? `CrrStatus = 'FAILED'` : `(CrrStatus IS NULL OR CrrStatus != 'FAILED')`,
  ];
  if (startedBefore) clauses.push(`StartTime < ${queryLiteral(startedBefore.toISOString())}`);
  return clauses.join(' AND ');
}

export interface OldestAgeOptions {
  /** First age tried, in seconds (then ×4). */
  first?: number;
  /** Beyond this age the search stops and answers it. */
  max?: number;
  /** Bisection stops when the bounds are this close (seconds), or within 1/8 of the age. */
  resolution?: number;
}

/**
 * The age in seconds of the oldest pending run, found with counts only (SQL visibility stores
 * cannot ORDER BY): ages growing ×4 from one minute until no run is that old, then bisection.
 * The answer is a lower bound within max(15 s, 1/8 of it); about 3 counts for a young
 * backlog, at most 13 for one of weeks. Call it only when some run is pending.
 */
export async function oldestPendingAge(
  countOlderThan: (seconds: number) => Promise<number>,
  options: OldestAgeOptions = {},
): Promise<number> {
  const first = options.first ?? 60;
  const max = options.max ?? 30 * 86_400;
  const resolution = options.resolution ?? 15;
  let lo = 0;
  let hi: number | undefined;
  for (let age = first; age <= max; age *= 4) {
    if ((await countOlderThan(age)) > 0) lo = age;
    else {
      hi = age;
      break;
    }
  }
  if (hi === undefined) return lo;
  while (hi - lo > Math.max(resolution, lo / 8)) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await countOlderThan(mid)) > 0) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** One destination site's backlog, from Temporal's visibility store (2 counts, more when something is pending). */
export async function countSiteBacklog(
  count: (query: string) => Promise<number>,
  taskQueue: string,
  now = new Date(),
): Promise<SiteBacklog> {
  const pendingKeys = await count(backlogQuery(taskQueue, 'pending'));
  const failedKeys = await count(backlogQuery(taskQueue, 'failed'));
  const oldestPendingAgeSeconds =
    pendingKeys > 0
      ? await oldestPendingAge((seconds) =>
          count(backlogQuery(taskQueue, 'pending', new Date(now.getTime() - seconds * 1000))),
        )
      : 0;
  return { pendingKeys, failedKeys, oldestPendingAgeSeconds };
}

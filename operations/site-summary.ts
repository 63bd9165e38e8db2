import type { Client } from '@temporalio/client';
import type { SiteRates } from '../metrics/site-rates';
import { taskQueueFor, type SiteControlState } from '../shared/workflow-contract';
import { countSiteBacklog, queryLiteral } from './backlog';
import { siteState } from './site-control';

/** One destination site as operators watch it: the backlog from the Temporal server alone. */
export interface SiteSummary extends SiteControlState {
  /** Keys with versions waiting or being copied (open runs not parked on a FAILED version). */
  backlogKeys: number;
  /** Age of the oldest of them in seconds: the RPO at risk (0 when nothing waits). */
  oldestPendingAgeSeconds: number;
  /** Keys with at least one FAILED version. */
  failedKeys: number;
  /** Keys whose runs completed in the last hour (every version replicated). */
  completedKeysLastHour: number;
  /** Throughput, failures and latency over the API's window, from the workers' counters. */
  metrics?: SiteRates;
}

export async function siteSummary(
  client: Client,
  prefix: string,
  site: string,
  rates?: (site: string) => SiteRates,
): Promise<SiteSummary> {
  const count = async (query: string) => (await client.workflow.count(query)).count;
  const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
  const [control, backlog, completed] = await Promise.all([
    siteState(client, prefix, site),
    countSiteBacklog(count, taskQueueFor(prefix, site)),
    count(
      `CrrSite = ${queryLiteral(site)} AND ExecutionStatus = 'Completed' AND CloseTime > ${queryLiteral(hourAgo)}`,
    ),
  ]);
  return {
    ...control,
    backlogKeys: backlog.pendingKeys,
    oldestPendingAgeSeconds: backlog.oldestPendingAgeSeconds,
    failedKeys: backlog.failedKeys,
    completedKeysLastHour: completed,
    ...(rates ? { metrics: rates(site) } : {}),
  };
}

export async function siteSummaries(
  client: Client,
  prefix: string,
  sites: string[],
  rates?: (site: string) => SiteRates,
): Promise<SiteSummary[]> {
  return Promise.all(sites.map((site) => siteSummary(client, prefix, site, rates)));
}

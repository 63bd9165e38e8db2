import type { Client } from '@temporalio/client';
import type { SiteControlState } from '../shared/workflow-contract';
import { quoteVisibility } from './failures';
import { siteState } from './site-control';

/** One destination site as operators watch it, from the Temporal server alone. */
export interface SiteSummary extends SiteControlState {
  /** Keys with versions waiting or being copied (open runs not parked on a FAILED version). */
  backlogKeys: number;
  /** Keys with at least one FAILED version. */
  failedKeys: number;
  /** Keys whose runs completed in the last hour (every version replicated). */
  completedKeysLastHour: number;
}

async function count(client: Client, query: string): Promise<number> {
  return (await client.workflow.count(query)).count;
}

export async function siteSummary(client: Client, prefix: string, site: string): Promise<SiteSummary> {
  const bySite = `CrrSite = ${quoteVisibility(site)}`;
  const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
  const [control, running, failed, completed] = await Promise.all([
    siteState(client, prefix, site),
    count(client, `${bySite} AND ExecutionStatus = 'Running'`),
    count(client, `${bySite} AND ExecutionStatus = 'Running' AND CrrStatus = 'FAILED'`),
    count(client, `${bySite} AND ExecutionStatus = 'Completed' AND CloseTime > '${hourAgo}'`),
  ]);
  return { ...control, backlogKeys: running - failed, failedKeys: failed, completedKeysLastHour: completed };
}

export async function siteSummaries(client: Client, prefix: string, sites: string[]): Promise<SiteSummary[]> {
  return Promise.all(sites.map((site) => siteSummary(client, prefix, site)));
}

import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { destinationSites, type EngineConfig } from '../config/engine-config';
import {
  controlTaskQueue,
  pauseSiteSignal,
  resumeSiteSignal,
  SITE_CONTROL_MEMO,
  SITE_CONTROL_WORKFLOW,
  siteControlWorkflowId,
  type PauseRequest,
  type SiteControlState,
} from '../shared/workflow-contract';

/** The destination sites an operation names: the one given (checked), or every destination. */
export function targetSites(config: EngineConfig, site?: string): string[] {
  const all = destinationSites(config);
  if (site === undefined) return all;
  if (!all.includes(site)) {
    throw new UnknownSiteError(
      `unknown destination site "${site}" (destinations: ${all.join(', ') || 'none'})`,
    );
  }
  return [site];
}

export class UnknownSiteError extends Error {}

/**
 * Pauses replication to each site: workers stop taking new work for it within
 * `worker.pausePollMs` (1 s); copies in flight finish; the journal keeps being consumed and
 * versions wait PENDING, in order, until `resume`. Durable: the state lives in the site's
 * control workflow, started here when it does not exist yet.
 */
export async function pauseSites(
  client: Client,
  config: EngineConfig,
  sites: string[],
  request: PauseRequest,
): Promise<SiteControlState[]> {
  await signalSites(client, config, sites, pauseSiteSignal, [request]);
  return expectedStates(sites, true, request);
}

export async function resumeSites(
  client: Client,
  config: EngineConfig,
  sites: string[],
): Promise<SiteControlState[]> {
  await signalSites(client, config, sites, resumeSiteSignal, []);
  return expectedStates(sites, false);
}

/** Signals each site's control workflow, starting it when it does not exist yet. */
async function signalSites<Args extends unknown[]>(
  client: Client,
  config: EngineConfig,
  sites: string[],
  signal: SignalDefinition<Args>,
  args: Args,
): Promise<void> {
  const signalArgs: unknown[] = args;
  const prefix = config.temporal.taskQueuePrefix;
  await Promise.all(
    sites.map((site) =>
      client.workflow.signalWithStart(SITE_CONTROL_WORKFLOW, {
        workflowId: siteControlWorkflowId(prefix, site),
        taskQueue: controlTaskQueue(prefix),
        args: [{ site }],
        signal: signal.name,
        signalArgs,
      }),
    ),
  );
}

/** What a signal just asked for (the memo follows once a worker ran the control workflow). */
function expectedStates(sites: string[], paused: boolean, request?: PauseRequest): SiteControlState[] {
  const now = new Date();
  return sites.map((site) => ({
    site,
    paused,
    ...(paused ? { pausedAt: now.toISOString() } : {}),
    ...(paused && request?.hours !== undefined
      ? { resumeAt: new Date(now.getTime() + request.hours * 3_600_000).toISOString() }
      : {}),
    ...(request?.reason ? { reason: request.reason } : {}),
  }));
}

/**
 * A site's pause state from the Temporal server alone (its control workflow's memo): no
 * worker needs to run. A site that was never paused has no control workflow.
 */
export async function siteState(client: Client, prefix: string, site: string): Promise<SiteControlState> {
  try {
    const description = await client.workflow.getHandle(siteControlWorkflowId(prefix, site)).describe();
    const memo = description.memo?.[SITE_CONTROL_MEMO] as SiteControlState | undefined;
    if (description.status.name !== 'RUNNING' || !memo) return { site, paused: false };
    return { ...memo, site };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { site, paused: false };
    throw err;
  }
}

export async function siteStates(
  client: Client,
  prefix: string,
  sites: string[],
): Promise<SiteControlState[]> {
  return Promise.all(sites.map((site) => siteState(client, prefix, site)));
}

/** One line for `status` and `pause`/`resume`. */
export function describeSiteState(s: SiteControlState): string {
  if (!s.paused) return `site ${s.site}: replicating`;
  return [
    `site ${s.site}: PAUSED`,
    s.pausedAt ? ` since ${s.pausedAt}` : '',
    s.resumeAt ? `, resumes at ${s.resumeAt}` : ', until `replication resume`',
    s.reason ? ` (${s.reason})` : '',
  ].join('');
}

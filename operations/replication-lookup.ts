import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { rulesOf, type EngineConfig } from '../config/engine-config';
import type { VersionStatus } from '../shared/replication-task';
import type { ReplicateKeyResult } from '../shared/workflow-contract';
import { replicationWorkflowId } from '../shared/workflow-id';
import { stateFromHistory } from './history-state';

export interface SiteReplication {
  site: string;
  workflowId: string;
  /** Temporal's view of the latest run: RUNNING, COMPLETED, ... or NOT_FOUND. */
  runStatus: string;
  versions: VersionStatus[];
}

/** Sites the bucket's rules can send to (rule filters aside): where to look for a key's status. */
export function sitesOfBucket(config: EngineConfig, bucket: string, sourceSite?: string): string[] {
  const source = sourceSite ?? config.sourceSite;
  const sites = Object.keys(config.sites).filter((s) => s !== source);
  return rulesOf(config, bucket, source) ? sites : [];
}

/**
 * One run's versions, from the Temporal server alone: a completed run's result, or the
 * state rebuilt from any other run's history (open, failed, cancelled, terminated) and its
 * pending activities. No query, so no worker is needed and nothing waits for one.
 */
async function versionsOfRun(
  client: Client,
  workflowId: string,
  runId: string | undefined,
  status: string,
): Promise<VersionStatus[]> {
  const handle = client.workflow.getHandle(workflowId, runId);
  if (status === 'COMPLETED') return ((await handle.result()) as ReplicateKeyResult).versions;
  const [history, description] = await Promise.all([
    handle.fetchHistory(),
    status === 'RUNNING' ? handle.describe() : undefined,
  ]);
  return stateFromHistory(history.events ?? [], description?.raw.pendingActivities ?? []).versions;
}

/**
 * Reads a key's replication status at one site from Temporal: the latest run, then older
 * runs (newest first) until `versionId` is found.
 */
export async function lookupReplication(
  client: Client,
  site: string,
  bucket: string,
  key: string,
  versionId?: string,
  maxRuns = 20,
  /** The bucket's site when it is not the config's `sourceSite`. */
  sourceSite?: string,
): Promise<SiteReplication> {
  const workflowId = replicationWorkflowId(site, bucket, key, sourceSite);
  let description;
  try {
    description = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      return { site, workflowId, runStatus: 'NOT_FOUND', versions: [] };
    throw err;
  }
  const runStatus = description.status.name;
  const versions: VersionStatus[] = [];
  if (runStatus !== 'CONTINUED_AS_NEW') {
    versions.push(...(await versionsOfRun(client, workflowId, description.runId, runStatus)));
  }
  if (versionId && !versions.some((v) => v.versionId === versionId)) {
    let runs = 0;
    for await (const run of client.workflow.list({
      query: `WorkflowId = '${workflowId.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`,
    })) {
      // Runs that continued as new hold the statuses their successor no longer carries.
      if (run.runId === description.runId || run.status.name === 'RUNNING') continue;
      const older = await versionsOfRun(client, workflowId, run.runId, run.status.name);
      versions.push(...older);
      if (older.some((v) => v.versionId === versionId) || ++runs >= maxRuns) break;
    }
  }
  return {
    site,
    workflowId,
    runStatus,
    versions: versionId ? versions.filter((v) => v.versionId === versionId) : versions,
  };
}

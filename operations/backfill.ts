import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { carriedSourceSite, rulesOf, siteOfRule, type EngineConfig } from '../config/engine-config';
import {
  BACKFILL_MEMO,
  BACKFILL_WORKFLOW,
  estimateSecondsLeft,
  type BackfillRequest,
  type BackfillState,
} from '../shared/backfill';
import { CRR_BUCKET, CRR_SITE } from '../shared/search-attributes';
import { backfillProgressQuery, controlTaskQueue, taskQueueFor } from '../shared/workflow-contract';
import { backfillWorkflowId } from '../shared/workflow-id';
import { queryLiteral } from './backlog';
import { UnknownSiteError } from './site-control';

export interface BackfillOptions {
  bucket: string;
  /** The bucket's site, when it is not the config's `sourceSite`. */
  sourceSite?: string;
  site?: string;
  prefix?: string;
  olderThan?: string;
  includeFailed?: boolean;
  concurrency?: number;
  objectsPerSecond?: number;
  mibPerSecond?: number;
}

/** The sites a bucket's enabled rules replicate to (the bucket on `sourceSite`, default the config's). */
export function destinationsOfBucket(config: EngineConfig, bucket: string, sourceSite?: string): string[] {
  const rules = rulesOf(config, bucket, sourceSite);
  if (!rules) return [];
  const sites = new Set<string>();
  for (const rule of rules.Rules) {
    if (rule.Status !== 'Enabled') continue;
    for (const site of siteOfRule(config, rule)) sites.add(site);
  }
  return [...sites];
}

/** The destination sites of a bucket to work on: the one named (checked), or all of them. */
export function sitesOfBucketRules(
  config: EngineConfig,
  bucket: string,
  site?: string,
  sourceSite?: string,
): string[] {
  if (sourceSite !== undefined && !(sourceSite in config.sites))
    throw new UnknownSiteError(`source site "${sourceSite}" is not in the config's sites`);
  const sites = destinationsOfBucket(config, bucket, sourceSite);
  const where = carriedSourceSite(config, sourceSite) !== undefined ? ` on site ${sourceSite}` : '';
  if (sites.length === 0)
    throw new UnknownSiteError(`bucket ${bucket}${where} has no enabled replication rule in the config`);
  if (site !== undefined && !sites.includes(site))
    throw new UnknownSiteError(
      `bucket ${bucket}${where} is not replicated to site "${site}" (its rules send it to: ${sites.join(', ')})`,
    );
  return site !== undefined ? [site] : sites;
}

/** The request a backfill runs with: options over the config's defaults, checked. */
export function backfillRequests(
  config: EngineConfig,
  options: BackfillOptions,
  now = new Date(),
): BackfillRequest[] {
  const sites = sitesOfBucketRules(config, options.bucket, options.site, options.sourceSite);
  const sourceSite = carriedSourceSite(config, options.sourceSite);
  let olderThan: string | undefined;
  if (options.olderThan !== undefined) {
    const at = Date.parse(options.olderThan);
    if (!Number.isFinite(at))
      throw Object.assign(new Error(`--older-than ${options.olderThan} is not a date (ISO 8601)`), {
        statusCode: 400,
      });
    olderThan = new Date(at).toISOString();
  }
  const defaults = config.backfill;
  return sites.map((site) => ({
    site,
    ...(sourceSite !== undefined ? { sourceSite } : {}),
    bucket: options.bucket,
    prefix: options.prefix ?? '',
    ...(olderThan ? { olderThan } : {}),
    includeFailed: options.includeFailed ?? false,
    concurrency: options.concurrency ?? defaults.concurrency,
    objectsPerSecond: options.objectsPerSecond ?? defaults.objectsPerSecond,
    bytesPerSecond: (options.mibPerSecond ?? defaults.mibPerSecond) * 1024 * 1024,
    pageSize: defaults.pageSize,
    startDelayMs: defaults.startDelaySeconds * 1000,
    eventsPerRun: defaults.eventsPerRun,
    requestedAt: now.toISOString(),
  }));
}

export interface StartedBackfill {
  workflowId: string;
  site: string;
  /** False when one with the same bucket, site and prefix was already running (it goes on). */
  started: boolean;
}

/**
 * Starts one durable backfill per destination site (or the one named). Idempotent: a
 * backfill of the same bucket, site and prefix that is still running is left to go on.
 */
export async function startBackfills(
  client: Client,
  config: EngineConfig,
  options: BackfillOptions,
): Promise<StartedBackfill[]> {
  const prefix = config.temporal.taskQueuePrefix;
  const started: StartedBackfill[] = [];
  for (const request of backfillRequests(config, options)) {
    const workflowId = backfillWorkflowId(
      prefix,
      request.site,
      request.bucket,
      request.prefix,
      request.sourceSite,
    );
    try {
      await client.workflow.start(BACKFILL_WORKFLOW, {
        workflowId,
        taskQueue: controlTaskQueue(prefix),
        args: [{ request, taskQueue: taskQueueFor(prefix, request.site) }],
        memo: { [BACKFILL_MEMO]: { request, progress: undefined } },
        staticSummary: `backfill ${request.sourceSite !== undefined ? `${request.sourceSite}: ` : ''}s3://${request.bucket}/${request.prefix} → ${request.site}`,
        typedSearchAttributes: [
          { key: CRR_BUCKET, value: request.bucket },
          { key: CRR_SITE, value: request.site },
        ],
      });
      started.push({ workflowId, site: request.site, started: true });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      started.push({ workflowId, site: request.site, started: false });
    }
  }
  return started;
}

export interface BackfillStatus extends Partial<BackfillState> {
  workflowId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, CANCELLED, FAILED, TERMINATED… */
  runStatus: string;
  startTime: string;
  closeTime?: string;
}

function backfillQuery(filters: { bucket?: string; site?: string; runningOnly?: boolean }): string {
  return [
    `WorkflowType = ${queryLiteral(BACKFILL_WORKFLOW)}`,
    filters.bucket !== undefined && `CrrBucket = ${queryLiteral(filters.bucket)}`,
    filters.site !== undefined && `CrrSite = ${queryLiteral(filters.site)}`,
    filters.runningOnly && `ExecutionStatus = 'Running'`,
  ]
    .filter(Boolean)
    .join(' AND ');
}

/**
 * Backfills (running and finished, newest first) with their progress, from the Temporal
 * server alone (memo: as of the last page, or the last 5 s while versions drain).
 */
export async function listBackfills(
  client: Client,
  filters: { bucket?: string; site?: string; prefix?: string; runningOnly?: boolean },
  limit = 100,
): Promise<BackfillStatus[]> {
  const found: BackfillStatus[] = [];
  const listed = new Set<string>();
  for await (const indexed of client.workflow.list({ query: backfillQuery(filters) })) {
    // A backfill that continued as new is one backfill: its latest run (listed first) stands
    // for it; an older run shows only while visibility has not yet indexed the new one.
    if (indexed.status.name === 'CONTINUED_AS_NEW' && listed.has(indexed.workflowId)) continue;
    listed.add(indexed.workflowId);
    const run = indexed.status.name === 'RUNNING' ? await latestRun(client, indexed) : indexed;
    if (filters.runningOnly && run.status.name !== 'RUNNING') continue;
    const memo = run.memo?.[BACKFILL_MEMO] as Partial<BackfillState> | undefined;
    if (filters.prefix !== undefined && memo?.request?.prefix !== filters.prefix) continue;
    const status: BackfillStatus = {
      workflowId: run.workflowId,
      runStatus: run.status.name,
      startTime: run.startTime.toISOString(),
      ...(run.closeTime ? { closeTime: run.closeTime.toISOString() } : {}),
      ...(memo?.request ? { request: memo.request } : {}),
    };
    if (memo?.progress) {
      status.progress = { ...memo.progress };
      if (run.status.name === 'RUNNING')
        status.progress.etaSeconds = estimateSecondsLeft(memo.progress, Date.now());
    }
    found.push(status);
    if (found.length >= limit) break;
  }
  return found;
}

type ListedRun = Pick<WorkflowExecutionInfo, 'workflowId' | 'status' | 'startTime' | 'closeTime' | 'memo'>;

/**
 * Visibility is indexed after the fact: a run it still lists as running may have completed,
 * or continued as new, moments ago. The history service answers for the latest run.
 */
async function latestRun(client: Client, indexed: ListedRun): Promise<ListedRun> {
  try {
    return await client.workflow.getHandle(indexed.workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return indexed; // gone since it was indexed
    throw err;
  }
}

/** The latest state of one backfill: asks its workflow (fresh), or reads its memo without a worker. */
export async function backfillStatus(client: Client, workflowId: string): Promise<BackfillStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const memo = description.memo?.[BACKFILL_MEMO] as Partial<BackfillState> | undefined;
  const base: BackfillStatus = {
    workflowId,
    runStatus: description.status.name,
    startTime: description.startTime.toISOString(),
    ...(description.closeTime ? { closeTime: description.closeTime.toISOString() } : {}),
    ...memo,
  };
  if (description.status.name !== 'RUNNING') return base;
  return { ...base, ...(await freshState(client, workflowId)) };
}

async function freshState(client: Client, workflowId: string): Promise<Partial<BackfillState>> {
  try {
    return await client.workflow.getHandle(workflowId).query(backfillProgressQuery);
  } catch {
    return {}; // no worker answers: the memo stands
  }
}

/** Cancels the running backfills that match; returns their ids. */
export async function cancelBackfills(
  client: Client,
  filters: { bucket?: string; site?: string; prefix?: string },
): Promise<string[]> {
  const running = await listBackfills(client, { ...filters, runningOnly: true }, 10_000);
  for (const b of running) await client.workflow.getHandle(b.workflowId).cancel();
  return running.map((b) => b.workflowId);
}

/** One running backfill's scope, as workers need it. */
interface Scope {
  site: string;
  sourceSite?: string;
  bucket: string;
  prefix: string;
}

/**
 * Which running backfills cover a key, read every `intervalMs` from Temporal's visibility
 * store (workers; see activities/placement.ts, catchUpExisting). A failed read keeps the
 * last answer.
 */
export function watchBackfillScopes(
  client: Client,
  intervalMs: number,
  onError: (err: unknown) => void = () => undefined,
): {
  covers(site: string, bucket: string, key: string, sourceSite?: string): boolean;
  refresh(): Promise<void>;
  stop(): void;
} {
  /** By backfill workflow id: a backfill keeps its id across continue-as-new. */
  let scopes = new Map<string, Scope>();
  let reading: Promise<void> | undefined;
  const refresh = () =>
    (reading ??= (async () => {
      try {
        const next = new Map<string, Scope>();
        for await (const run of client.workflow.list({ query: backfillQuery({ runningOnly: true }) })) {
          const request = (run.memo?.[BACKFILL_MEMO] as Partial<BackfillState> | undefined)?.request;
          if (request)
            next.set(run.workflowId, {
              site: request.site,
              ...(request.sourceSite !== undefined ? { sourceSite: request.sourceSite } : {}),
              bucket: request.bucket,
              prefix: request.prefix,
            });
        }
        // Visibility may show no running run of a backfill for a moment while it continues as
        // new: a backfill leaves the list only once its latest run is seen closed for good,
        // or else live changes under it would stop bringing their older versions along.
        for (const [workflowId, scope] of scopes) {
          if (next.has(workflowId) || !(await stillRunning(client, workflowId))) continue;
          next.set(workflowId, scope);
        }
        scopes = next;
      } catch (err) {
        onError(err);
      } finally {
        reading = undefined;
      }
    })());
  void refresh();
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return {
    // Asked by every placement: a plain loop over the few scopes, no copy of them.
    covers: (site, bucket, key, sourceSite) => {
      for (const s of scopes.values())
        if (s.site === site && s.sourceSite === sourceSite && s.bucket === bucket && key.startsWith(s.prefix))
          return true;
      return false;
    },
    refresh,
    stop: () => clearInterval(timer),
  };
}

/** Whether a workflow's latest run is open or continued as new (read from the server, not visibility). */
async function stillRunning(client: Client, workflowId: string): Promise<boolean> {
  try {
    const { status } = await client.workflow.getHandle(workflowId).describe();
    return status.name === 'RUNNING' || status.name === 'CONTINUED_AS_NEW';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    // Unknown: keep covering (a catch-up costs one listing; a missed one loses order).
    return true;
  }
}

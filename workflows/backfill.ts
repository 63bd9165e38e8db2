import {
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { BackfillActivities } from '../activities/backfill-activities';
import {
  BACKFILL_MEMO,
  emptyBackfillProgress,
  estimateSecondsLeft,
  pageRefill,
  reportedCount,
  type BackfillProgress,
  type BackfillRequest,
  type BackfillState,
} from '../shared/backfill';
import { backfillProgressQuery, backfillReportsSignal } from '../shared/workflow-contract';
import { BackfillLedger } from './backfill-ledger';

export interface BackfillWorkflowInput {
  request: BackfillRequest;
  /** The destination site's task queue: the backfill's activities stop while the site is paused. */
  taskQueue: string;
  /** Carried over continue-as-new. */
  progress?: BackfillProgress;
  /** Carried over continue-as-new: the versions submitted and not yet reported (digests). */
  inFlight?: string[];
}

/** A run continues as new past this many history events (report signals add one each). */
const EVENTS_PER_RUN = 5_000;
/** The memo is refreshed at most this often while versions drain. */
const MEMO_EVERY_MS = 5_000;
/** The patch of the page refill threshold (pageRefill). */
const REFILL_PATCH = 'backfill-page-refill';

/**
 * Replicates what a bucket held before its rule, to one site (docs/BACKFILL.md): lists the
 * source's versions page by page from a checkpoint carried in the workflow's own state (a
 * killed worker or a Temporal restart resumes from the last page), submits each key's
 * versions oldest first to the per-key replication workflows, keeps at most `concurrency`
 * versions submitted and not yet reported, paces pages to the rate limits, and completes once
 * every submitted version was reported. Cancelling the workflow cancels the backfill.
 */
export async function backfillWorkflow(input: BackfillWorkflowInput): Promise<BackfillProgress> {
  const { request } = input;
  const now = () => Date.now();
  const progress: BackfillProgress = input.progress ?? emptyBackfillProgress(new Date().toISOString());
  const workflowId = workflowInfo().workflowId;
  const activities = proxyActivities<BackfillActivities>({
    taskQueue: input.taskQueue,
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '30 seconds',
    // Bounded: a bucket that stays unreadable ends the backfill with the reason, after ~1 h.
    retry: {
      initialInterval: '1 second',
      maximumInterval: '1 minute',
      backoffCoefficient: 2,
      maximumAttempts: 70,
    },
  });

  const ledger = new BackfillLedger(progress, input.inFlight);
  const outstanding = () => ledger.outstanding;
  const state = (): BackfillState => ({
    request,
    progress: { ...progress, etaSeconds: estimateSecondsLeft(progress, now()) },
  });
  let memoAt = 0;
  let memoReported = -1;
  const publish = () => {
    memoAt = now();
    memoReported = reportedCount(progress);
    const current = state();
    upsertMemo({ [BACKFILL_MEMO]: current });
    setCurrentDetails(detailsOf(current));
  };

  setHandler(backfillReportsSignal, (reports) => ledger.report(reports), {
    description: "the key workflows' outcomes for the versions this backfill submitted",
  });
  setHandler(backfillProgressQuery, state, {
    description: 'the request and its progress: listed, submitted, replicated, failed, bytes, time left',
  });

  const tooLong = () =>
    workflowInfo().continueAsNewSuggested ||
    workflowInfo().historyLength > (request.eventsPerRun ?? EVENTS_PER_RUN);
  const carryOn = async () => {
    await condition(allHandlersFinished);
    publish();
    await continueAsNew<typeof backfillWorkflow>({ ...input, progress, inFlight: ledger.carried() });
  };

  try {
    if (progress.phase === 'starting') {
      publish();
      // Workers learn of running backfills every few seconds; live changes to covered keys
      // then bring the older versions along (activities/placement.ts, catchUpExisting).
      await sleep(request.startDelayMs);
      progress.phase = 'scanning';
      progress.scanStartedAt = new Date().toISOString();
      publish();
    }
    if (progress.totalVersions === undefined && progress.phase === 'scanning') {
      // Runs beside the scan; only the estimate of the time left depends on it.
      void activities
        .countBackfillScope({ request, workflowId })
        .then((total) => {
          progress.totalVersions = total.versions;
          progress.totalBytes = total.bytes;
        })
        .catch(() => undefined);
    }
    // A page is listed once a quarter of the window (at most a page) has been reported, not
    // as soon as one version is: with the window full, each report would otherwise bring a
    // page of one version, an activity, a source listing and a workflow task of its own.
    // Runs started before this rule keep the old one (patched: their histories replay).
    const refill = patched(REFILL_PATCH) ? pageRefill(request) : 1;
    while (progress.phase === 'scanning') {
      await condition(() => outstanding() <= request.concurrency - refill);
      const pageStarted = now();
      const room = request.concurrency - outstanding();
      const perPage = request.objectsPerSecond > 0 ? Math.max(1, Math.ceil(request.objectsPerSecond)) : 1000;
      ledger.pageStarted();
      const page = await activities
        .submitBackfillPage({
          request,
          workflowId,
          ...(progress.keyMarker !== undefined
            ? { marker: { keyMarker: progress.keyMarker, versionIdMarker: progress.versionIdMarker ?? '' } }
            : {}),
          maxVersions: Math.max(1, Math.min(request.pageSize, room, perPage)),
        })
        .catch((err: unknown) => {
          ledger.pageAbandoned();
          throw err;
        });
      ledger.pageSubmitted(page.submittedIds);
      progress.listed += page.listed;
      progress.skipped += page.skipped;
      progress.submitted += page.submitted;
      progress.submittedBytes += page.submittedBytes;
      if (page.next) {
        progress.keyMarker = page.next.keyMarker;
        progress.versionIdMarker = page.next.versionIdMarker;
      } else progress.phase = 'draining';
      publish();
      // Pace to the limits: this page's objects and bytes at the configured rates.
      const paceMs = Math.max(
        request.objectsPerSecond > 0 ? (page.submitted / request.objectsPerSecond) * 1000 : 0,
        request.bytesPerSecond > 0 ? (page.submittedBytes / request.bytesPerSecond) * 1000 : 0,
      );
      const wait = paceMs - (now() - pageStarted);
      if (wait > 0) await sleep(wait);
      if (tooLong()) await carryOn();
    }
    while (outstanding() > 0) {
      await condition(() => outstanding() === 0, MEMO_EVERY_MS);
      if (reportedCount(progress) !== memoReported || now() - memoAt > 60_000) publish();
      if (tooLong()) await carryOn();
    }
    await condition(allHandlersFinished);
    progress.phase = 'completed';
    progress.finishedAt = new Date().toISOString();
    publish();
    return { ...progress };
  } catch (err) {
    if (isCancellation(err)) {
      progress.phase = 'cancelled';
      progress.finishedAt = new Date().toISOString();
      publish();
    }
    throw err;
  }
}

/** The Temporal UI's "current details": the backfill's numbers at a glance. */
function detailsOf({ request, progress: p }: BackfillState): string {
  const total = p.totalVersions !== undefined ? ` of ${p.totalVersions}` : '';
  return [
    `**Backfill** of \`s3://${request.bucket}/${request.prefix}\` → ${request.site}: **${p.phase}**`,
    '',
    '| listed | submitted | replicated | already there | not replicated | failed | left FAILED | bytes replicated | time left |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${p.listed} | ${p.submitted}${total} | ${p.replicated} | ${p.alreadyReplicated} | ${p.notReplicated} | ${p.failed} | ${p.skippedFailed} | ${p.replicatedBytes} | ${p.etaSeconds !== undefined ? `${p.etaSeconds} s` : '?'} |`,
    '',
    `Progress: \`replication backfill status --bucket ${request.bucket} --site ${request.site}\`; cancel: \`replication backfill cancel --bucket ${request.bucket} --site ${request.site}${request.prefix ? ` --prefix '${request.prefix}'` : ''}\``,
  ].join('\n');
}

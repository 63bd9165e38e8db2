import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReplicationActivities } from '../activities';
import { statusEvent } from '../shared/status-event';
import type {
  ReplicateKeyInput,
  ReplicationOutcome,
  ReplicationStatus,
  ReplicationTask,
  TagsWaiting,
} from '../shared/replication-task';
import {
  TAGS_SETTLE_DETAIL,
  TAGS_STALE_DETAIL,
  TAGS_WAITING_DETAIL,
  taskIdentity,
} from '../shared/replication-task';
import { latestTagChanges } from './tag-changes';
import {
  RUN_AS_REGULAR_ACTIVITY,
  startsLocally,
  transferFor,
  type ReplanDetails,
  type Transfer,
} from '../shared/copy-plan';
import { failureCodeOf } from '../shared/failure-codes';
import { CRR_REASON, CRR_STATUS } from '../shared/search-attributes';
import {
  backfillReportsSignal,
  FAILED_MEMO,
  replicationStateQuery,
  replicationTaskSignal,
  replicationTasksSignal,
  retryFailedSignal,
  dismissFailedSignal,
  type ReplicateKeyResult,
} from '../shared/workflow-contract';
import { BackfillReporter } from './backfill-reporter';
import { keyDetails } from './key-details';
import { VersionBook } from './version-book';

/**
 * Quick attempts a small change gets as a local activity before it continues as a regular
 * activity, whose retries the Temporal server schedules and shows (attempt, next retry,
 * last error) even when no worker runs.
 */
export const LOCAL_ATTEMPTS = 2;
/** A regular activity that stops heartbeating for this long is retried elsewhere (e.g. after kill -9). */
export const HEARTBEAT_TIMEOUT = '15 seconds';
/**
 * Queued changes an activity may bring over with the one it applies, when they come first
 * on the source (concurrent writers): enough to cover a journal chunk's reordering, small
 * enough for a regular activity's input in the history.
 */
export const PENDING_PASSED = 100;

type Activities = Pick<
  ReplicationActivities,
  'copyObjectVersion' | 'replicateObjectTags' | 'replicateDeleteMarker'
>;

/**
 * True when no further attempt can help. A local activity's failure reaches the workflow as
 * the activity's own error (not wrapped in an ActivityFailure) and without a retry state.
 */
function nonRetryable(err: unknown): boolean {
  if (err instanceof CancelledFailure) return true;
  if (err instanceof ActivityFailure) {
    if (err.retryState === 'NON_RETRYABLE_FAILURE') return true;
    return nonRetryable(err.cause);
  }
  return err instanceof ApplicationFailure && err.nonRetryable === true;
}

/** The source's real size when an activity refused its plan (RUN_AS_REGULAR_ACTIVITY). */
function replanOf(err: unknown): ReplanDetails | undefined {
  const failure = err instanceof ActivityFailure ? err.cause : err;
  if (!(failure instanceof ApplicationFailure) || failure.type !== RUN_AS_REGULAR_ACTIVITY) return undefined;
  const details = failure.details?.[0] as Partial<ReplanDetails> | undefined;
  return {
    sourceSize: typeof details?.sourceSize === 'number' ? details.sourceSize : Number.MAX_SAFE_INTEGER,
  };
}

/** How long a two-way tag change that found both sides changed waits for the other side's event. */
const TAGS_WAIT_MS = 120_000;
/**
 * How long a two-way tag conflict settled on old changes waits for newer ones (any signal
 * ends the wait sooner). Past it the conflict is settled on what is held: the newest changes
 * there are, after a long outage.
 */
const TAGS_STALE_WAIT_MS = 30_000;
/**
 * How long a two-way tag conflict waits for newer changes before it is settled on the times
 * held (any signal ends the wait sooner): longer than a change's usual way from the site to
 * the key workflow (MinIO's notification and Kafka: 1-3 s).
 */
const TAGS_SETTLE_WAIT_MS = 6_000;
/** How long a two-way tag change waits, by the detail its activity answered with (none: it is done). */
function tagsWaitMs(detail: string | undefined): number | undefined {
  switch (detail) {
    case TAGS_WAITING_DETAIL:
      return TAGS_WAIT_MS;
    case TAGS_STALE_DETAIL:
      return TAGS_STALE_WAIT_MS;
    case TAGS_SETTLE_DETAIL:
      return TAGS_SETTLE_WAIT_MS;
    default:
      return undefined;
  }
}

/**
 * Applies one key's versions to one destination site in journal order. One workflow per
 * (site, bucket, key) gives ordering within a key and parallelism across keys for free.
 * The run completes once every version is COMPLETED; while a version is FAILED it stays
 * open (CrrStatus = FAILED) until `replication retry` or new versions arrive.
 *
 * Every activity is idempotent against the target's whole history (activities/placement.ts),
 * so local activities re-run after a failed workflow task, a redelivered journal entry or a
 * new run after the old one completed change nothing on the target.
 */
export async function replicateKeyWorkflow(input: ReplicateKeyInput): Promise<ReplicateKeyResult> {
  const { settings } = input;
  const book = new VersionBook(input.carried, input);
  const now = () => new Date().toISOString();
  const reporter = new BackfillReporter(input.key, book.queue);
  /** Two-way tag changes that found both sides changed, by version (see TagsWaiting). */
  const tagsWaiting = new Map<string, TagsWaiting>(
    (input.tagsWaiting ?? []).map((w) => [w.task.entry.versionId, w]),
  );
  /** The version being applied (a backfill may wait for it). */
  let running: ReplicationTask | undefined;

  /** Queues a signal's tasks; backfills learn at once what the key already knew (VersionBook.admit). */
  const admit = (tasks: ReplicationTask[]) => {
    const admission = book.admit(tasks, now(), running);
    for (const { origin, report } of admission.reports) reporter.reportNow(origin, report);
    for (const { task, origin } of admission.watched) reporter.watch(task, origin);
  };

  /** Sends the backfills their outcomes (a backfill that ended since is no longer told). */
  const sendReports = async (all: boolean) => {
    for (const [workflowId, reports] of reporter.take(all)) {
      try {
        await getExternalWorkflowHandle(workflowId).signal(backfillReportsSignal, reports);
      } catch {
        // The backfill was cancelled or finished: nobody waits for these outcomes.
      }
    }
  };

  // The memo lists FAILED versions for operators without a worker; it is written only when
  // the set of FAILED versions changes, so a key that never fails costs no event for it.
  let memoFailedCount = book.failedMemo().failedCount;
  const publishFailedMemo = () => {
    const memo = book.failedMemo();
    if (memo.failedCount === 0 && memoFailedCount === 0) return;
    upsertMemo({ [FAILED_MEMO]: memo });
    memoFailedCount = memo.failedCount;
  };

  // The Temporal UI's "current details" of the run (read only when the UI asks: no event).
  const showDetails = () =>
    setCurrentDetails(
      keyDetails(
        { site: input.site, bucket: input.bucket, key: input.key },
        book.versions,
        book.queue.length,
      ),
    );

  setHandler(
    replicationTasksSignal,
    (tasks) => {
      admit(tasks);
      showDetails();
    },
    { description: "the populator's journal entries for this key, in journal order (at most 100)" },
  );
  setHandler(
    replicationTaskSignal,
    (task) => {
      admit([task]);
      showDetails();
    },
    { description: 'one journal entry for this key (a task sent by hand)' },
  );
  setHandler(
    retryFailedSignal,
    () => {
      if (book.retryFailed(now()) > 0) publishFailedMemo();
      showDetails();
    },
    {
      description: 'send every FAILED version of this key back to the queue, in order (`replication retry`)',
    },
  );
  setHandler(
    dismissFailedSignal,
    (request) => {
      if (book.dismissFailed(request?.reason, now()) > 0) publishFailedMemo();
      showDetails();
    },
    {
      description:
        'end the FAILED versions that can never succeed, recorded as dismissed (`replication dismiss`)',
    },
  );
  setHandler(replicationStateQuery, () => book.snapshot(), {
    description:
      "every version's status (PENDING, PROCESSING, COMPLETED, FAILED), attempts, reason, and the queue",
  });

  const retry = {
    initialInterval: settings.initialRetryIntervalMs,
    maximumInterval: settings.maxRetryIntervalMs,
    backoffCoefficient: 2,
  };
  const localAttempts = Math.min(LOCAL_ATTEMPTS, settings.maxAttempts);
  // Small changes run in the workflow's own worker: one marker event instead of three, no
  // round trip through the task queue.
  const local = proxyLocalActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    retry: { ...retry, maximumAttempts: localAttempts, nonRetryableErrorTypes: [RUN_AS_REGULAR_ACTIVITY] },
  });
  // FAILED is the one status no activity attempt can publish itself (best effort, never throws).
  const publisher = proxyLocalActivities<Pick<ReplicationActivities, 'publishReplicationStatus'>>({
    startToCloseTimeout: '30 seconds',
  });
  let activitySeq = 0;
  // Regular activities heartbeat (resumable multipart, fast retry after a crash) and carry the
  // task's identity in their id, so that `status` can name what a pending activity is doing.
  const regular = (task: ReplicationTask, attemptsUsed: number, transfer: Transfer) =>
    proxyActivities<Activities>({
      activityId: `${taskIdentity(task)}#${++activitySeq}@${attemptsUsed}`,
      startToCloseTimeout: transfer === 'multipart' ? '24 hours' : '1 hour',
      heartbeatTimeout: HEARTBEAT_TIMEOUT,
      retry: {
        ...retry,
        maximumAttempts: Math.max(1, settings.maxAttempts - attemptsUsed),
        nonRetryableErrorTypes: [RUN_AS_REGULAR_ACTIVITY],
      },
    });

  const call = (
    activities: Activities,
    task: ReplicationTask,
    transfer: Transfer,
  ): Promise<ReplicationOutcome> => {
    switch (task.entry.operation) {
      case 'put':
        return activities.copyObjectVersion(task, book.pendingChanges(PENDING_PASSED), transfer);
      case 'metadata': {
        // Two-way: each side's latest change of the version this workflow holds (the one
        // waiting here and those still queued), so that a conflict is settled on the changes
        // behind both sides' present tags, not on whichever events happen to come first.
        const { versionId } = task.entry;
        const side = task.entry.tagsChangedOn ?? 'source';
        const otherSide = side === 'source' ? 'target' : 'source';
        const latest = latestTagChanges(versionId, [task, tagsWaiting.get(versionId)?.task, ...book.queue]);
        const otherAt = latest[otherSide];
        return activities.replicateObjectTags(task, book.replicaOf(versionId), {
          ...(otherAt !== undefined ? { other: { side: otherSide, at: otherAt } } : {}),
          ...(latest[side] !== task.entry.eventTime ? { changeAt: latest[side] } : {}),
        });
      }
      case 'delete-marker':
        return activities.replicateDeleteMarker(task, book.pendingChanges(PENDING_PASSED));
      case 'delete-version':
        // The populator never sends these (AWS does not replicate version deletes).
        throw ApplicationFailure.nonRetryable('version deletes are not replicated');
    }
  };

  /**
   * Runs a task as a regular activity; when the source contradicts the plan (the version is
   * larger than the journal said), once more with the transfer planned from its real size.
   */
  const runRegular = async (
    task: ReplicationTask,
    attemptsUsed: number,
    transfer: Transfer,
  ): Promise<{ outcome: ReplicationOutcome; attempts: number }> => {
    try {
      const outcome = await call(regular(task, attemptsUsed, transfer), task, transfer);
      return { outcome, attempts: attemptsUsed + outcome.attempts };
    } catch (err) {
      const replan = replanOf(err);
      if (!replan || transfer === 'multipart') throw err;
      return runRegular(task, attemptsUsed + 1, transferFor(replan.sourceSize, settings, task.entry.etag));
    }
  };

  /** Runs the task; resolves with its outcome and the attempts it took in all. */
  const apply = async (task: ReplicationTask): Promise<{ outcome: ReplicationOutcome; attempts: number }> => {
    // The one multipart decision for this change (shared/copy-plan.ts), from the journal's size.
    const transfer = transferFor(task.entry.size, settings, task.entry.etag);
    if (!startsLocally(task.entry, settings)) return runRegular(task, 0, transfer);
    try {
      const outcome = await call(local, task, transfer);
      return { outcome, attempts: outcome.attempts };
    } catch (err) {
      const replan = replanOf(err);
      if (replan) return runRegular(task, 1, transferFor(replan.sourceSize, settings, task.entry.etag));
      if (nonRetryable(err) || localAttempts >= settings.maxAttempts) throw err;
      // The quick attempts failed: go on with server-scheduled retries and heartbeats.
      return runRegular(task, localAttempts, transfer);
    }
  };

  // CrrStatus is written only once a key has failed (FAILED, then PROCESSING on retry, then
  // COMPLETED): a key that never fails costs no upsert event and no visibility write, and its
  // execution status (Running/Completed) already says where it is.
  let currentStatus = workflowInfo().typedSearchAttributes.get(CRR_STATUS) as ReplicationStatus | undefined;
  // CrrReason (the stable failure code) is written with FAILED, in the same event.
  let currentReason = workflowInfo().typedSearchAttributes.get(CRR_REASON);
  const setKeyStatus = (status: ReplicationStatus, reasonCode?: string) => {
    const reasonChanged = reasonCode !== undefined && reasonCode !== currentReason;
    if (status === currentStatus && !reasonChanged) return;
    if (currentStatus === undefined && status !== 'FAILED') return;
    upsertSearchAttributes([
      { key: CRR_STATUS, value: status },
      ...(reasonChanged ? [{ key: CRR_REASON, value: reasonCode }] : []),
    ]);
    currentStatus = status;
    if (reasonChanged) currentReason = reasonCode;
  };

  let handled = 0;
  for (;;) {
    for (let task = book.next(); task !== undefined; task = book.next()) {
      book.begin(task, now());
      running = task;
      showDetails();
      try {
        const { outcome, attempts } = await apply(task);
        if (task.entry.operation === 'metadata') {
          const { versionId } = task.entry;
          const waitMs = tagsWaitMs(outcome.detail);
          if (waitMs === undefined) tagsWaiting.delete(versionId);
          else {
            // The waiting change keeps both sides' latest changes it was weighed against: the
            // tasks that carried them are done, and a later decision needs their times.
            const tagsHeld = latestTagChanges(versionId, [task, tagsWaiting.get(versionId)?.task]);
            tagsWaiting.set(versionId, { task: { ...task, tagsHeld }, until: Date.now() + waitMs });
          }
        }
        book.complete(taskIdentity(task), outcome, attempts, now());
        book.completeAhead(outcome.appliedAhead ?? [], now());
        reporter.settled(
          taskIdentity(task),
          task.entry.versionId,
          BackfillReporter.resultOf(outcome.detail),
          outcome.bytes,
        );
        for (const ahead of outcome.appliedAhead ?? []) {
          const versionId = ahead.identity.split('|').slice(0, -2).join('|');
          reporter.settled(ahead.identity, versionId, BackfillReporter.resultOf(ahead.detail));
        }
      } catch (err) {
        const reason =
          err instanceof ActivityFailure ? (err.cause?.message ?? err.message) : (err as Error).message;
        const exhausted = err instanceof ActivityFailure && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED';
        const code = failureCodeOf(reason) ?? 'UNKNOWN';
        const detail = reason.replace(/^\[[A-Z_]+\] /, '');
        book.fail(
          task,
          `[${code}] ${exhausted ? `gave up after ${settings.maxAttempts} attempts: ${detail}` : detail}`,
          exhausted ? settings.maxAttempts : 1,
          now(),
        );
        setKeyStatus('FAILED', code);
        publishFailedMemo();
        reporter.settled(taskIdentity(task), task.entry.versionId, 'failed');
        await publisher.publishReplicationStatus([statusEvent(task, 'FAILED', { reason })]);
      }
      running = undefined;
      showDetails();
      if (reporter.hasReports) await sendReports(false);
      handled++;
      if (
        book.queue.length > 0 &&
        (handled >= settings.continueAsNewAfterVersions || workflowInfo().continueAsNewSuggested)
      ) {
        if (!allHandlersFinished()) await condition(allHandlersFinished);
        if (reporter.hasReports) await sendReports(true);
        await continueAsNew<typeof replicateKeyWorkflow>({
          ...input,
          carried: book.carryOver(),
          tagsWaiting: [...tagsWaiting.values()],
        });
      }
    }
    // Every handler here is synchronous, so this nearly always holds already; awaiting it anyway
    // costs promises, and the SDK captures a stack trace for every promise a workflow creates.
    if (!allHandlersFinished()) await condition(allHandlersFinished);
    if (reporter.hasReports) await sendReports(true);
    // Signals taken while the reports went out may have queued work or outcomes to send.
    if (book.queue.length > 0 || reporter.hasReports) continue;
    if (tagsWaiting.size > 0) {
      // A two-way tag conflict waits for the other side's event, within a bound: then it wins.
      const until = Math.min(...[...tagsWaiting.values()].map((w) => w.until));
      if (await condition(() => book.queue.length > 0, Math.max(1, until - Date.now()))) continue;
      for (const [versionId, waiting] of tagsWaiting)
        if (waiting.until <= Date.now()) {
          tagsWaiting.delete(versionId);
          book.accept([{ ...waiting.task, retry: true, tagsForce: true }], now());
        }
      continue;
    }
    const anyFailed = book.hasFailed;
    setKeyStatus(anyFailed ? 'FAILED' : 'COMPLETED');
    if (!anyFailed) return { versions: book.versions };
    // Stay visible as FAILED until an operator retries or the key gets new versions.
    await condition(() => book.queue.length > 0 || !book.hasFailed || reporter.hasReports);
    if (book.queue.length > 0) setKeyStatus('PROCESSING');
  }
}

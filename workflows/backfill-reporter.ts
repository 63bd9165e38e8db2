import {
  backfillResultOf,
  backfillVersionDigest,
  type BackfillOrigin,
  type BackfillOutcome,
  type BackfillReport,
  type BackfillReportResult,
} from '../shared/backfill';
import { taskIdentity, type ReplicationTask } from '../shared/replication-task';

/** Reports at most this many outcomes per signal to a backfill. */
export const MAX_REPORTS_PER_SIGNAL = 500;

/**
 * Which queued changes a backfill waits for, and their outcomes not yet sent to it. Lives in
 * the key workflow; what must survive continue-as-new is on the queued tasks themselves
 * (`task.backfill`), so a new run rebuilds it from its queue.
 */
export class BackfillReporter {
  private readonly waiting = new Map<string, BackfillOrigin>();
  private readonly outbox = new Map<string, BackfillReport[]>();

  /** `key`: the key whose versions this workflow replicates (reports name key and version). */
  constructor(
    private readonly key: string,
    queue: readonly ReplicationTask[] = [],
  ) {
    for (const task of queue) if (task.backfill) this.waiting.set(taskIdentity(task), task.backfill);
  }

  /** The backfill waits for this queued or running change (its own task, or one already queued). */
  watch(task: ReplicationTask, origin: BackfillOrigin): void {
    task.backfill = origin;
    this.waiting.set(taskIdentity(task), origin);
  }

  /** An outcome known without running anything (already done before, or left FAILED). */
  reportNow(origin: BackfillOrigin, report: BackfillOutcome): void {
    this.push(origin.workflowId, report);
  }

  /** A change ended: its outcome goes to the backfill waiting for it, if any. */
  settled(identity: string, versionId: string, result: BackfillReportResult, bytes = 0): void {
    const origin = this.waiting.get(identity);
    if (!origin) return;
    this.waiting.delete(identity);
    this.push(origin.workflowId, { versionId, result, bytes });
  }

  /** A completed change's result, from its outcome's detail. */
  static resultOf(detail: string | undefined): BackfillReportResult {
    return backfillResultOf(detail);
  }

  get hasReports(): boolean {
    return this.outbox.size > 0;
  }

  /**
   * Reports ready to send: all of them when `all`, otherwise those of backfills with nothing
   * left queued here (one signal per key and batch), or with a full signal's worth.
   */
  take(all: boolean): Array<[string, BackfillReport[]]> {
    const stillWaiting = new Set([...this.waiting.values()].map((o) => o.workflowId));
    const ready: Array<[string, BackfillReport[]]> = [];
    for (const [workflowId, reports] of this.outbox) {
      if (!all && stillWaiting.has(workflowId) && reports.length < MAX_REPORTS_PER_SIGNAL) continue;
      this.outbox.delete(workflowId);
      for (let i = 0; i < reports.length; i += MAX_REPORTS_PER_SIGNAL)
        ready.push([workflowId, reports.slice(i, i + MAX_REPORTS_PER_SIGNAL)]);
    }
    return ready;
  }

  private push(workflowId: string, outcome: BackfillOutcome): void {
    let list = this.outbox.get(workflowId);
    if (!list) this.outbox.set(workflowId, (list = []));
    list.push({ id: backfillVersionDigest(this.key, outcome.versionId), ...outcome });
  }
}

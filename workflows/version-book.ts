/**
 * The bookkeeping of one key's replication at one site: which versions were accepted (and
 * which deliveries were duplicates), the queue still to apply, and each version's status.
 * Pure and deterministic: the workflow drives it from signals and activity results, and
 * `replication status` rebuilds the same state from the workflow's history when no worker
 * is running.
 */
import type {
  AppliedAhead,
  CarriedState,
  PendingChange,
  ReplicateKeyState,
  ReplicationOutcome,
  ReplicationTask,
  VersionStatus,
} from '../shared/replication-task';
import { taskIdentity } from '../shared/replication-task';
import type { FailedVersionMemo } from '../shared/workflow-contract';
import type { BackfillOrigin, BackfillOutcome } from '../shared/backfill';

/** Bounds on what a run carries over continue-as-new, so history and payloads stay small. */
export const CARRIED_VERSIONS = 100;
export const CARRIED_IDENTITIES = 1000;
/** How many FAILED versions the memo lists (the count is exact). */
export const MEMO_FAILED_VERSIONS = 20;

export const identityOf = (v: Pick<VersionStatus, 'versionId' | 'operation' | 'sequence'>) =>
  `${v.versionId}|${v.operation}|${v.sequence}`;

function pendingRow(task: ReplicationTask, now: string): VersionStatus {
  const { versionId, operation, sequence } = task.entry;
  return { versionId, operation, sequence, status: 'PENDING', attempts: 0, pendingAt: now };
}

/** What admitting a signal's tasks means for the backfills that sent some of them. */
export interface Admission {
  reports: Array<{ origin: BackfillOrigin; report: BackfillOutcome }>;
  watched: Array<{ task: ReplicationTask; origin: BackfillOrigin }>;
}

export class VersionBook {
  readonly queue: ReplicationTask[];
  readonly versions: VersionStatus[];
  private readonly seen: Set<string>;

  constructor(carried?: CarriedState, object?: { bucket: string; key: string }) {
    this.queue = (carried?.queue ?? []).map((t) => ({
      ...t,
      entry: { bucket: object?.bucket ?? '', key: object?.key ?? '', ...t.entry },
    }));
    this.versions = (carried?.versions ?? []).map((v) => ({ ...v }));
    this.seen = new Set(carried?.seen ?? []);
  }

  /** Queues the tasks of a signal, in order; a delivery already seen is dropped unless it is a retry. */
  accept(tasks: ReplicationTask[], now: string): number {
    let accepted = 0;
    for (const task of tasks) {
      const identity = taskIdentity(task);
      if (this.seen.has(identity) && !task.retry && !task.recheck) continue;
      this.seen.delete(identity); // keeps the most recent deliveries last, for the carried window
      this.seen.add(identity);
      this.queue.push(task);
      this.versions.push(pendingRow(task, now));
      accepted++;
    }
    return accepted;
  }

  /**
   * Queues a signal's tasks. A backfill's version the key already knows runs nothing new:
   * done before → reported at once; queued or running → the backfill waits for it; FAILED →
   * retried with --include-failed, otherwise reported as left FAILED. Returns what the
   * backfills must be told and which changes they wait for (the workflow's BackfillReporter).
   */
  admit(tasks: ReplicationTask[], now: string, running?: ReplicationTask): Admission {
    const admission: Admission = { reports: [], watched: [] };
    const fresh: ReplicationTask[] = [];
    for (const task of tasks) {
      const origin = task.backfill;
      if (!origin) {
        fresh.push(task);
        continue;
      }
      // The same backfill may deliver a version twice (a retried page): once is enough.
      const identity = taskIdentity(task);
      const delivery = `${identity}#${origin.requestedAt}`;
      if (this.seen.has(delivery)) continue;
      this.markSeen(delivery);
      // Queued; a change handled before (done, or its row no longer carried) is checked again
      // against the target, which a backfill trusts rather than the book: a replica deleted
      // since (what `replication diff` reports) is copied again, one still there costs no transfer.
      const enqueue = () => fresh.push(this.seen.has(identity) ? { ...task, recheck: true } : task);
      const row = this.latestRow(task.entry.versionId, task.entry.operation);
      const { versionId } = task.entry;
      if (!row || row.status === 'COMPLETED') enqueue();
      else if (row.status === 'FAILED') {
        const requeued = origin.includeFailed ? this.retryVersion(row, now) : undefined;
        if (requeued) admission.watched.push({ task: requeued, origin });
        else admission.reports.push({ origin, report: { versionId, result: 'skipped_failed', bytes: 0 } });
      } else {
        const current = running && taskIdentity(running) === identityOf(row) ? running : undefined;
        const waitedFor = this.queuedTask(row) ?? current;
        if (waitedFor) admission.watched.push({ task: waitedFor, origin });
        else enqueue();
      }
    }
    this.accept(fresh, now);
    for (const task of fresh) if (task.backfill) admission.watched.push({ task, origin: task.backfill });
    return admission;
  }

  /** Sends every FAILED version back to the queue, flagged as a retry (`replication retry`). */
  retryFailed(now: string): number {
    let retried = 0;
    for (const version of this.versions) {
      if (this.retryVersion(version, now)) retried++;
    }
    return retried;
  }

  /** Sends one FAILED version back to the queue as a retry; the queued task, if it could. */
  retryVersion(version: VersionStatus, now: string): ReplicationTask | undefined {
    if (version.status !== 'FAILED' || !version.task) return undefined;
    const task: ReplicationTask = { ...version.task, retry: true };
    this.queue.push(task);
    version.status = 'PENDING';
    version.pendingAt = now;
    if (version.reason) version.lastFailure = version.reason;
    delete version.reason;
    delete version.task;
    delete version.finishedAt;
    delete version.nextAttemptAt;
    return task;
  }

  /** Whether this delivery (task identity) was already accepted. */
  hasSeen(identity: string): boolean {
    return this.seen.has(identity);
  }

  /** Remembers a delivery handled without queueing it (a backfill of a version already known). */
  markSeen(identity: string): void {
    this.seen.delete(identity);
    this.seen.add(identity);
  }

  /** The most recent row of a version's put or delete marker, whatever its journal sequence. */
  latestRow(versionId: string, operation: string): VersionStatus | undefined {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const v = this.versions[i]!;
      if (v.versionId === versionId && v.operation === operation) return v;
    }
    return undefined;
  }

  /** The queued task of a row, if it is still queued. */
  queuedTask(row: VersionStatus): ReplicationTask | undefined {
    const identity = identityOf(row);
    return this.queue.find((t) => taskIdentity(t) === identity);
  }

  /** Records every FAILED version as dismissed (`replication dismiss`): COMPLETED, not replicated. */
  dismissFailed(reason: string | undefined, now: string): number {
    let dismissed = 0;
    for (const version of this.versions) {
      if (version.status !== 'FAILED') continue;
      version.status = 'COMPLETED';
      version.detail = `not replicated: dismissed by an operator${reason ? ` (${reason})` : ''}; last failure: ${version.reason ?? 'unknown'}`;
      version.finishedAt = now;
      delete version.reason;
      delete version.task;
      delete version.nextAttemptAt;
      dismissed++;
    }
    return dismissed;
  }

  next(): ReplicationTask | undefined {
    return this.queue.shift();
  }

  private rowOf(identity: string, statuses: VersionStatus['status'][]): VersionStatus | undefined {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const v = this.versions[i]!;
      if (identityOf(v) === identity && statuses.includes(v.status)) return v;
    }
    return undefined;
  }

  /** The task is being applied: PROCESSING. */
  begin(task: ReplicationTask, now: string): VersionStatus {
    const identity = taskIdentity(task);
    let row = this.rowOf(identity, ['PENDING', 'PROCESSING']);
    if (!row) {
      row = pendingRow(task, now);
      this.versions.push(row);
    }
    row.status = 'PROCESSING';
    row.startedAt = now;
    return row;
  }

  /** An attempt failed and the next one waits (what `status` shows while a version retries). */
  retrying(
    identity: string,
    attempt: number,
    reason: string | undefined,
    nextAttemptAt: string | undefined,
  ): void {
    const row = this.rowOf(identity, ['PENDING', 'PROCESSING']);
    if (!row) return;
    row.status = 'PROCESSING';
    row.attempts = attempt;
    if (reason) row.reason = reason;
    if (nextAttemptAt) row.nextAttemptAt = nextAttemptAt;
  }

  complete(identity: string, outcome: ReplicationOutcome, attempts: number, now: string): void {
    const row = this.rowOf(identity, ['PROCESSING', 'PENDING']);
    if (!row) return;
    row.status = 'COMPLETED';
    row.attempts = attempts;
    row.finishedAt = now;
    if (outcome.targetVersionId) row.targetVersionId = outcome.targetVersionId;
    if (outcome.detail) row.detail = outcome.detail;
    delete row.reason;
    delete row.nextAttemptAt;
  }

  /**
   * Completes queued changes an activity applied with the one it ran (they came first on the
   * source): they leave the queue without running.
   */
  completeAhead(applied: AppliedAhead[], now: string): void {
    for (const a of applied) {
      const queued = this.queue.findIndex((t) => taskIdentity(t) === a.identity);
      if (queued < 0) continue;
      this.queue.splice(queued, 1);
      const row = this.rowOf(a.identity, ['PENDING', 'PROCESSING']);
      if (!row) continue;
      row.status = 'COMPLETED';
      row.finishedAt = now;
      row.detail = a.detail;
      if (a.targetVersionId) row.targetVersionId = a.targetVersionId;
    }
  }

  /** Puts and delete markers waiting in the queue, for an activity to place the current change among. */
  pendingChanges(limit: number): PendingChange[] {
    const out: PendingChange[] = [];
    for (const t of this.queue) {
      if (out.length >= limit) break;
      const { operation, versionId, sequence } = t.entry;
      if (operation !== 'put' && operation !== 'delete-marker') continue;
      out.push({ identity: taskIdentity(t), operation, versionId, sequence });
    }
    return out;
  }

  fail(task: ReplicationTask, reason: string, attempts: number, now: string): void {
    const row = this.rowOf(taskIdentity(task), ['PROCESSING', 'PENDING']) ?? this.begin(task, now);
    row.status = 'FAILED';
    row.reason = reason;
    row.attempts = attempts;
    row.finishedAt = now;
    row.task = task;
    row.failures = (row.failures ?? 0) + 1;
    row.firstFailedAt ??= now;
    delete row.nextAttemptAt;
  }

  /** Records FAILED versions named by the workflow's memo (history reader), with their tasks for a later retry. */
  failFromMemo(
    failed: FailedVersionMemo[],
    now: string,
    taskOf: (identity: string) => ReplicationTask | undefined = () => undefined,
  ): void {
    for (const f of failed) {
      const identity = identityOf(f);
      const row = this.rowOf(identity, ['PENDING', 'PROCESSING']);
      if (!row) continue;
      // The queue no longer holds it: the workflow took it and gave up.
      const queued = this.queue.findIndex((t) => taskIdentity(t) === identity);
      if (queued >= 0) this.queue.splice(queued, 1);
      row.status = 'FAILED';
      row.reason = f.reason;
      row.attempts = f.attempts;
      row.finishedAt = f.finishedAt ?? now;
      row.failures = f.failures ?? (row.failures ?? 0) + 1;
      row.firstFailedAt = f.firstFailedAt ?? row.firstFailedAt ?? row.finishedAt;
      const task = taskOf(identity);
      if (task) row.task = task;
    }
  }

  get hasFailed(): boolean {
    return this.versions.some((v) => v.status === 'FAILED');
  }

  /** The version the workflow would replicate a tag change onto without a lookup. */
  replicaOf(versionId: string): string | undefined {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const v = this.versions[i]!;
      if (v.versionId === versionId && v.operation === 'put' && v.status === 'COMPLETED' && v.targetVersionId)
        return v.targetVersionId;
    }
    return undefined;
  }

  failedMemo(): { failed: FailedVersionMemo[]; failedCount: number } {
    const failed = this.versions.filter((v) => v.status === 'FAILED');
    return {
      failedCount: failed.length,
      failed: failed.slice(-MEMO_FAILED_VERSIONS).map((v) => ({
        versionId: v.versionId,
        operation: v.operation,
        sequence: v.sequence,
        reason: (v.reason ?? '').slice(0, 1000),
        attempts: v.attempts,
        finishedAt: v.finishedAt,
        ...(v.failures && v.failures > 1 ? { failures: v.failures, firstFailedAt: v.firstFailedAt } : {}),
      })),
    };
  }

  /** What continue-as-new carries: the queue, every FAILED version, the latest statuses and deliveries. */
  carryOver(): CarriedState {
    const failed = this.versions.filter((v) => v.status === 'FAILED');
    const recent = this.versions.filter((v) => v.status !== 'FAILED').slice(-CARRIED_VERSIONS);
    const queue = this.queue.map(({ entry, ...rest }) => {
      const { bucket: _bucket, key: _key, ...own } = entry;
      return { ...rest, entry: own };
    });
    return { queue, versions: [...failed, ...recent], seen: [...this.seen].slice(-CARRIED_IDENTITIES) };
  }

  snapshot(): ReplicateKeyState {
    return { queue: this.queue, versions: this.versions, seen: [...this.seen].slice(-CARRIED_IDENTITIES) };
  }
}

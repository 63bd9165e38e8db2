import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { RUN_AS_REGULAR_ACTIVITY } from '../shared/copy-plan';
import type { JournalOperation } from '../shared/journal-entry';
import {
  outcomeLabel,
  REPLICATION_OUTCOMES,
  type ReplicationOutcome,
  type ReplicationTask,
} from '../shared/replication-task';
import { BoundedLabel, cleanLabelValue, OTHER_LABEL } from './labels';
import { processRegistry, singletonFor } from './registry';

export { REPLICATION_OUTCOMES, outcomeLabel, type ReplicationOutcomeLabel } from '../shared/replication-task';

const OPERATIONS: readonly JournalOperation[] = ['put', 'metadata', 'delete-marker', 'delete-version'];

export function operationLabel(operation: string): string {
  return (OPERATIONS as readonly string[]).includes(operation) ? operation : OTHER_LABEL;
}

/** The operation in a task identity, `<versionId>|<operation>|<sequence>` (shared/replication-task.ts). */
export function operationOfIdentity(identity: string): string {
  const parts = identity.split('|');
  return parts.length >= 3 ? operationLabel(parts[parts.length - 2]!) : OTHER_LABEL;
}

/**
 * The kind of a failed attempt, never its message: the ApplicationFailure type the
 * activities give S3 errors (`PermanentAccessDenied`, `TransientTimeoutError`,
 * `TransientChecksumMismatch`…), `Cancelled`, or the error's class name. `undefined` for
 * the workflow's re-plan request (RunAsRegularActivity), which is not a failure.
 */
export function failureReasonLabel(err: unknown): string | undefined {
  if (err instanceof ApplicationFailure) {
    if (err.type === RUN_AS_REGULAR_ACTIVITY) return undefined;
    return err.type || 'ApplicationFailure';
  }
  if (err instanceof CancelledFailure) return 'Cancelled';
  if (err instanceof Error) return err.name || 'Error';
  return 'unknown';
}

/** Seconds from an ISO 8601 time to `now` (ms); undefined when the time cannot be read. */
export function secondsSince(iso: string | undefined, now: number): number | undefined {
  if (!iso) return undefined;
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, (now - at) / 1000);
}

/** Journal event to completion: seconds to an hour, then up to a day (RPO alerts look at 15 min). */
export const LATENCY_BUCKETS = [
  0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 21600, 86400,
];
/** One activity attempt: a tag update takes milliseconds, a 5 GiB multipart copy minutes. */
export const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** How one activity attempt ended, recorded once. */
export interface AttemptMetrics {
  succeeded(outcome: ReplicationOutcome): void;
  failed(err: unknown): void;
}

/**
 * The worker's replication metrics (docs/OPERATIONS.md, "Metrics"): in memory only, and no
 * method ever throws, so counting can never fail or delay a replication.
 */
export class WorkerMetrics {
  readonly completed: Counter<'site' | 'operation' | 'outcome'>;
  readonly failed: Counter<'site' | 'operation' | 'reason'>;
  readonly versionsFailed: Counter<'site' | 'operation'>;
  readonly bytes: Counter<'site'>;
  readonly latency: Histogram<'site' | 'operation'>;
  readonly duration: Histogram<'site' | 'operation'>;
  readonly inflight: Gauge<'site'>;
  private readonly reasons = new BoundedLabel(64, (v) =>
    cleanLabelValue(v, 64).replace(/[^A-Za-z0-9_.:-]/g, '_'),
  );

  constructor(registry: Registry) {
    const registers = [registry];
    this.completed = new Counter({
      name: 'crr_replications_completed_total',
      help: 'Replication activities completed, by destination site, operation and outcome (replicated, already_replicated, not_replicated)',
      labelNames: ['site', 'operation', 'outcome'],
      registers,
    });
    this.failed = new Counter({
      name: 'crr_replications_failed_total',
      help: 'Failed replication attempts, by destination site, operation and error type (Permanent*: the version is FAILED; Transient*: retried)',
      labelNames: ['site', 'operation', 'reason'],
      registers,
    });
    this.versionsFailed = new Counter({
      name: 'crr_versions_failed_total',
      help: 'Versions the workflow marked FAILED (permanent error or attempts exhausted), by destination site and operation',
      labelNames: ['site', 'operation'],
      registers,
    });
    this.bytes = new Counter({
      name: 'crr_bytes_replicated_total',
      help: 'Bytes of object data written to the destination site',
      labelNames: ['site'],
      registers,
    });
    this.latency = new Histogram({
      name: 'crr_replication_latency_seconds',
      help: 'From the journal event time to the completion of its replication',
      labelNames: ['site', 'operation'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.duration = new Histogram({
      name: 'crr_activity_duration_seconds',
      help: 'Duration of one replication activity attempt, failed or not',
      labelNames: ['site', 'operation'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.inflight = new Gauge({
      name: 'crr_inflight_replications',
      help: 'Replication activity attempts running now',
      labelNames: ['site'],
      registers,
    });
  }

  /** Zero series for the sites this worker serves, so rates and alerts see 0 rather than nothing. */
  initSites(sites: readonly string[]): void {
    safely(() => {
      for (const site of sites) {
        this.inflight.set({ site }, 0);
        this.bytes.inc({ site }, 0);
        for (const operation of ['put', 'metadata', 'delete-marker'])
          for (const outcome of REPLICATION_OUTCOMES) this.completed.inc({ site, operation, outcome }, 0);
      }
    });
  }

  /** One activity attempt starts: counted in flight until it ends. */
  attemptStarted(task: ReplicationTask, now: () => number = Date.now): AttemptMetrics {
    const site = task.target.site;
    const operation = operationLabel(task.entry.operation);
    const started = now();
    let ended = false;
    safely(() => this.inflight.inc({ site }));
    const end = () => {
      if (ended) return false;
      ended = true;
      this.inflight.dec({ site });
      this.duration.observe({ site, operation }, Math.max(0, (now() - started) / 1000));
      return true;
    };
    return {
      succeeded: (outcome) =>
        safely(() => {
          if (!end()) return;
          const at = now();
          this.completed.inc({ site, operation, outcome: outcomeLabel(outcome.detail) });
          if (Number.isFinite(outcome.bytes) && outcome.bytes > 0) this.bytes.inc({ site }, outcome.bytes);
          const latency = secondsSince(task.entry.eventTime, at);
          if (latency !== undefined) this.latency.observe({ site, operation }, latency);
          // Queued changes applied with this one complete without an activity of their own.
          for (const ahead of outcome.appliedAhead ?? []) {
            this.completed.inc({
              site,
              operation: operationOfIdentity(ahead.identity),
              outcome: outcomeLabel(ahead.detail),
            });
          }
        }),
      failed: (err) =>
        safely(() => {
          if (!end()) return;
          const reason = failureReasonLabel(err);
          if (reason !== undefined) this.failed.inc({ site, operation, reason: this.reasons.of(reason) });
        }),
    };
  }

  /** The workflow published a FAILED status: the version waits for an operator. */
  versionFailed(site: string, operation: string): void {
    safely(() => this.versionsFailed.inc({ site, operation: operationLabel(operation) }));
  }
}

function safely(record: () => void): void {
  try {
    record();
  } catch {
    // A metric is never worth a failed replication.
  }
}

const perRegistry = new WeakMap<Registry, WorkerMetrics>();

/** The worker metrics of a registry (the process's by default), created on first use. */
export function workerMetrics(registry: Registry = processRegistry()): WorkerMetrics {
  return singletonFor(perRegistry, registry, () => new WorkerMetrics(registry));
}

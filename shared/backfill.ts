import { outcomeLabel } from './replication-task';

/**
 * Backfill: replicating what a bucket held before its rule (docs/BACKFILL.md). One durable
 * backfill workflow per (destination site, bucket, prefix) lists the source's versions and
 * submits them, oldest first per key, to the same per-key replication workflows as the
 * journal; those report each version's outcome back to it.
 */

export const BACKFILL_WORKFLOW = 'backfillWorkflow';
/** Memo field with the backfill's request and progress, readable without a worker. */
export const BACKFILL_MEMO = 'crrBackfill';

/** What an operator asked for (`replication backfill`, `POST /_/crr/backfill`). */
/**
 * Versions that must have been reported, with the window (`concurrency`) full, before the
 * backfill lists its next page: a quarter of the window, at most a page.
 */
export function pageRefill(request: Pick<BackfillRequest, 'concurrency' | 'pageSize'>): number {
  return Math.max(1, Math.min(request.pageSize, Math.ceil(request.concurrency / 4)));
}

export interface BackfillRequest {
  site: string;
  /** The bucket's site when it is not the config's `sourceSite` (two-way, many-to-one). */
  sourceSite?: string;
  bucket: string;
  /** Keys starting with it ('' for the whole bucket). */
  prefix: string;
  /** Only versions written before this time (ISO 8601). */
  olderThan?: string;
  /** Also retry versions whose replication is FAILED (otherwise they are left to `replication retry`). */
  includeFailed: boolean;
  /** Versions submitted and not yet reported at most (bounds the work queued ahead). */
  concurrency: number;
  /** Submission rate limits (0: none). */
  objectsPerSecond: number;
  bytesPerSecond: number;
  /** Versions listed per ListObjectVersions request (at most 1000). */
  pageSize: number;
  /**
   * Wait before the first submission, so every worker has seen the backfill (they refresh
   * the running backfills every few seconds) before its versions arrive.
   */
  startDelayMs: number;
  /** The workflow continues as new past this many history events (default 5,000). */
  eventsPerRun?: number;
  requestedAt: string;
}

export type BackfillPhase = 'starting' | 'scanning' | 'draining' | 'completed' | 'cancelled';

/** Counts of versions (each put, delete marker) unless the name says bytes. */
export interface BackfillProgress {
  phase: BackfillPhase;
  /** Versions ListObjectVersions returned under the prefix. */
  listed: number;
  /** Of those, not submitted: newer than `olderThan`, no rule for the site, delete markers the rule does not replicate, replicas. */
  skipped: number;
  submitted: number;
  submittedBytes: number;
  /** Outcomes the key workflows reported. */
  replicated: number;
  replicatedBytes: number;
  alreadyReplicated: number;
  notReplicated: number;
  failed: number;
  /** FAILED before the backfill and left alone (no --include-failed). */
  skippedFailed: number;
  /** The whole scope, counted by a separate listing (undefined until it finishes). */
  totalVersions?: number;
  totalBytes?: number;
  startedAt: string;
  /** When the scan began (after the start delay). */
  scanStartedAt?: string;
  finishedAt?: string;
  /** Listing position: the next page starts after it. */
  keyMarker?: string;
  versionIdMarker?: string;
  /** Time left, from the completion rate so far (undefined until it can be told). */
  etaSeconds?: number;
  /**
   * Outcomes received for versions not in flight: a second report of a version (its key
   * workflow ran it again after a retried page re-signalled it). Counted once, not twice.
   */
  duplicateReports?: number;
}

export function emptyBackfillProgress(now: string): BackfillProgress {
  return {
    phase: 'starting',
    listed: 0,
    skipped: 0,
    submitted: 0,
    submittedBytes: 0,
    replicated: 0,
    replicatedBytes: 0,
    alreadyReplicated: 0,
    notReplicated: 0,
    failed: 0,
    skippedFailed: 0,
    startedAt: now,
  };
}

/** Versions the key workflows have reported back, whatever the outcome. */
export function reportedCount(p: BackfillProgress): number {
  return p.replicated + p.alreadyReplicated + p.notReplicated + p.failed + p.skippedFailed;
}

/**
 * Seconds left: the versions still to report (known once the scope is counted, or once the
 * scan is done) at the rate reported so far.
 */
export function estimateSecondsLeft(p: BackfillProgress, nowMs: number): number | undefined {
  const done = reportedCount(p);
  const started = Date.parse(p.scanStartedAt ?? p.startedAt);
  const elapsed = (nowMs - started) / 1000;
  if (done === 0 || elapsed <= 0) return undefined;
  const expected =
    p.phase === 'draining' || p.phase === 'completed'
      ? p.submitted
      : p.totalVersions !== undefined
        ? Math.max(p.submitted, p.totalVersions - p.skipped)
        : undefined;
  if (expected === undefined) return undefined;
  return Math.max(0, Math.round((expected - done) / (done / elapsed)));
}

export interface BackfillState {
  request: BackfillRequest;
  progress: BackfillProgress;
}

export type BackfillReportResult = 'replicated' | 'already' | 'not_replicated' | 'failed' | 'skipped_failed';

/** A completed change's result for a backfill, from its outcome's detail. */
export function backfillResultOf(detail: string | undefined): BackfillReportResult {
  const label = outcomeLabel(detail);
  return label === 'already_replicated' ? 'already' : label;
}

/** One version's outcome, as a key workflow reports it to the backfill that submitted it. */
export interface BackfillReport {
  /** backfillVersionDigest(key, versionId): which submitted version this outcome settles. */
  id: string;
  versionId: string;
  result: BackfillReportResult;
  bytes: number;
}

/** A version's outcome before it is named for its backfill (the key workflow adds the id). */
export type BackfillOutcome = Omit<BackfillReport, 'id'>;

/** Tells a key workflow which backfill submitted a task, so it can report the outcome. */
export interface BackfillOrigin {
  workflowId: string;
  includeFailed: boolean;
  /** Which start of that backfill (`request.requestedAt`): a later one is a new delivery. */
  requestedAt: string;
}

/**
 * The journal sequence a backfilled version carries: its LastModified time in nanoseconds
 * (the journal's own fallback ordering), so the same version listed twice makes the same
 * task and a key workflow drops the second.
 */
export function backfillSequence(lastModified: Date | string): string {
  const ms = typeof lastModified === 'string' ? Date.parse(lastModified) : lastModified.getTime();
  return (BigInt(Number.isFinite(ms) ? ms : 0) * 1_000_000n).toString();
}

/**
 * A short, stable name of one version of one key (64 bits, two FNV-1a hashes), so a backfill
 * can hold the versions it waits for (at most its window) in its state and carry them over
 * continue-as-new whatever the keys' lengths. Pure: runs in workflows and activities alike.
 */
export function backfillVersionDigest(key: string, versionId: string): string {
  const text = `${key}\u0000${versionId}`;
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

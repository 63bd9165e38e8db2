import type { BackfillProgress, BackfillReport } from '../shared/backfill';

/**
 * Which versions a backfill submitted and still waits for, matched with the outcomes the key
 * workflows report. Outcomes are matched by version, not counted: a retried page may
 * re-signal a key whose workflow has ended since, and its new run reports that version a
 * second time; counting would then end the backfill with another version still in flight.
 * Pure (runs inside the workflow); its state is the digests in flight, carried over
 * continue-as-new.
 */
export class BackfillLedger {
  private readonly inFlight: Set<string>;
  /** Outcomes that came while a page was being submitted, before its result named them. */
  private readonly early = new Map<string, BackfillReport>();
  private submitting = false;

  constructor(
    private readonly progress: BackfillProgress,
    inFlight: readonly string[] = [],
  ) {
    this.inFlight = new Set(inFlight);
  }

  /** Versions submitted and not yet reported. */
  get outstanding(): number {
    return this.inFlight.size;
  }

  /** For continue-as-new (no page is being submitted then). */
  carried(): string[] {
    return [...this.inFlight];
  }

  /** A page's submission starts: its versions may report before its result names them. */
  pageStarted(): void {
    this.submitting = true;
  }

  /** A page's submission ended: `ids` are the versions it submitted (any attempt). */
  pageSubmitted(ids: readonly string[]): void {
    this.submitting = false;
    for (const id of ids) {
      const report = this.early.get(id);
      if (report) {
        this.early.delete(id);
        this.tally(report);
      } else this.inFlight.add(id);
    }
    // Anything else that came meanwhile settles nothing this backfill waits for.
    this.duplicates(this.early.size);
    this.early.clear();
  }

  /** A page's submission failed for good: nothing it sent is waited for. */
  pageAbandoned(): void {
    this.submitting = false;
    this.duplicates(this.early.size);
    this.early.clear();
  }

  /** Outcomes from a key workflow. */
  report(reports: readonly BackfillReport[]): void {
    for (const r of reports) {
      if (this.inFlight.delete(r.id)) this.tally(r);
      else if (this.submitting) this.early.set(r.id, r);
      else this.duplicates(1);
    }
  }

  private tally(r: BackfillReport): void {
    const p = this.progress;
    if (r.result === 'replicated') {
      p.replicated++;
      p.replicatedBytes += r.bytes;
    } else if (r.result === 'already') p.alreadyReplicated++;
    else if (r.result === 'not_replicated') p.notReplicated++;
    else if (r.result === 'failed') p.failed++;
    else p.skippedFailed++;
  }

  private duplicates(count: number): void {
    if (count > 0) this.progress.duplicateReports = (this.progress.duplicateReports ?? 0) + count;
  }
}

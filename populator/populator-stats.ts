/** Most distinct reasons kept per kind of count; more are counted under "(other reasons)". */
const MAX_REASONS = 100;

type Counts = Map<string, number>;

function bump(counts: Counts, reason: string, by = 1): void {
  const slot = counts.has(reason) || counts.size < MAX_REASONS ? reason : '(other reasons)';
  counts.set(slot, (counts.get(slot) ?? 0) + by);
}

export interface PopulatorSummary {
  /** Since the previous summary. */
  periodMs: number;
  messages: number;
  entries: number;
  /** Tasks Temporal accepted, and the signal requests that carried them. */
  signalled: number;
  signals: number;
  /** Tasks planned without the version's tags (the replication checks them itself). */
  tagsChecked: number;
  skipped: Record<string, number>;
  deadLettered: Record<string, number>;
  /** Dead letters that could not be written to the topic and were logged instead. */
  deadLettersLogged: number;
  totals: { messages: number; signalled: number; skipped: number; deadLettered: number };
}

/**
 * What the populator did, for the periodic summary in the logs: messages, entries, tasks
 * signalled, and what was skipped or dead-lettered, by reason (short categories, so the
 * number of distinct reasons stays small).
 */
export class PopulatorStats {
  private period = this.empty();
  private readonly totals = { messages: 0, signalled: 0, skipped: 0, deadLettered: 0 };
  private since = Date.now();

  private empty() {
    return {
      messages: 0,
      entries: 0,
      signalled: 0,
      signals: 0,
      tagsChecked: 0,
      deadLettersLogged: 0,
      skipped: new Map<string, number>(),
      deadLettered: new Map<string, number>(),
    };
  }

  message(count = 1): void {
    this.period.messages += count;
    this.totals.messages += count;
  }

  entries(count: number): void {
    this.period.entries += count;
  }

  signalled(tasks: number): void {
    this.period.signalled += tasks;
    this.period.signals += 1;
    this.totals.signalled += tasks;
  }

  tagsChecked(tasks: number): void {
    this.period.tagsChecked += tasks;
  }

  skipped(reason: string, count = 1): void {
    bump(this.period.skipped, reason, count);
    this.totals.skipped += count;
  }

  deadLettered(kind: string, count = 1): void {
    bump(this.period.deadLettered, kind, count);
    this.totals.deadLettered += count;
  }

  deadLettersLogged(count: number): void {
    this.period.deadLettersLogged += count;
  }

  /** True when something was counted since the last summary. */
  get active(): boolean {
    const p = this.period;
    return (
      p.messages + p.entries + p.signalled + p.tagsChecked + p.deadLettersLogged > 0 ||
      p.skipped.size + p.deadLettered.size > 0
    );
  }

  /** The counts since the previous summary (and totals), and starts a new period. */
  summary(): PopulatorSummary {
    const p = this.period;
    const now = Date.now();
    const summary: PopulatorSummary = {
      periodMs: now - this.since,
      messages: p.messages,
      entries: p.entries,
      signalled: p.signalled,
      signals: p.signals,
      tagsChecked: p.tagsChecked,
      skipped: Object.fromEntries(p.skipped),
      deadLettered: Object.fromEntries(p.deadLettered),
      deadLettersLogged: p.deadLettersLogged,
      totals: { ...this.totals },
    };
    this.period = this.empty();
    this.since = now;
    return summary;
  }
}

import type { JournalOutcome } from '../metrics/populator-metrics';
import type { SkipKind } from './replication-planner';

/** The metric outcome of each reason the planner gives for replicating an entry nowhere. */
export const SKIP_OUTCOMES: Record<SkipKind, JournalOutcome> = {
  replica: 'replica',
  'version delete': 'version_delete',
  'replicationInfo not PENDING': 'not_pending',
  'bucket without replication rules': 'no_replication_rules',
  'no matching rule': 'skipped_by_rule',
};

/** What the records of one chunk became, counted once the chunk is done (metrics/populator-metrics.ts). */
export class JournalTally {
  readonly counts = new Map<JournalOutcome, number>();

  add(outcome: JournalOutcome, count = 1): void {
    if (count > 0) this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + count);
  }

  skipped(kind: SkipKind): void {
    this.add(SKIP_OUTCOMES[kind]);
  }

  /**
   * The entries that had tasks: `signalled` when Temporal accepted all of them, otherwise
   * `dead_lettered` (a signal refused for the key dead-letters the entry's message).
   */
  planned(entriesWithTasks: Iterable<number>, refused: ReadonlySet<number>): void {
    for (const entry of entriesWithTasks) this.add(refused.has(entry) ? 'dead_lettered' : 'signalled');
  }
}

import { Counter, Gauge, type Registry } from 'prom-client';
import { BoundedLabel } from './labels';
import { processRegistry, singletonFor } from './registry';

/**
 * What became of one journal record (an entry, or a message refused as a whole):
 * - `signalled`: its tasks were accepted by Temporal (one per destination site);
 * - `skipped_by_rule`: no enabled rule matches it (prefix, tags, delete markers disabled);
 * - `no_replication_rules`: its bucket has no replication configuration;
 * - `replica`: a replica (never replicated again); `version_delete`: a version delete (AWS
 *   does not replicate them); `not_pending`: a Backbeat entry whose status is not PENDING;
 * - `skipped_event`: an event or entry that changes nothing to replicate (ObjectAccessed,
 *   lifecycle transitions, Backbeat master keys, change-stream internals…);
 * - `dead_lettered`: refused (invalid, versionId missing, planning failed) or its signal
 *   was refused by Temporal: written to the dead-letter topic.
 */
export const JOURNAL_OUTCOMES = [
  'signalled',
  'skipped_by_rule',
  'no_replication_rules',
  'replica',
  'version_delete',
  'not_pending',
  'skipped_event',
  'dead_lettered',
] as const;
export type JournalOutcome = (typeof JOURNAL_OUTCOMES)[number];

/**
 * One signal request to Temporal: `accepted`; or an attempt that failed because Temporal is
 * `unavailable` (retried without bound), `refused` it for this key (retried for a while,
 * then dead-lettered) or `rejected` it as invalid (dead-lettered at once).
 */
export const SIGNAL_OUTCOMES = ['accepted', 'unavailable', 'refused', 'rejected'] as const;
export type SignalOutcome = (typeof SIGNAL_OUTCOMES)[number];

/**
 * Records not yet processed in a partition: the high watermark (the offset the next record
 * will get) minus the offset the consumer goes on from. Never negative; undefined when an
 * offset is not a number (kafkajs gives them as decimal strings, `-1` for none committed).
 */
export function consumerLag(
  highWatermark: string | number,
  nextOffset: string | number | bigint,
): number | undefined {
  try {
    const high = BigInt(highWatermark);
    const next = BigInt(nextOffset);
    if (high < 0n || next < 0n) return undefined;
    return Number(high > next ? high - next : 0n);
  } catch {
    return undefined;
  }
}

/** The next offset after a record: where the consumer resumes once it is processed. */
export function offsetAfter(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/** What the populator's periodic count found for one destination site. */
export interface SiteBacklog {
  /** Replication runs open and not FAILED: keys with versions to replicate. */
  pendingKeys: number;
  /** Replication runs waiting for an operator with FAILED versions. */
  failedKeys: number;
  /** Age of the oldest open, not FAILED run (0 when none). */
  oldestPendingAgeSeconds: number;
}

/**
 * The populator's metrics (docs/OPERATIONS.md, "Metrics"): in memory only, and no method
 * ever throws, so counting can never hold up the journal.
 */
export class PopulatorMetrics {
  readonly journalMessages: Counter<'outcome'>;
  readonly signals: Counter<'outcome'>;
  readonly signalledTasks: Counter<'site'>;
  readonly deadLetters: Counter<'reason_kind'>;
  readonly deadLettersUnwritten: Counter;
  readonly consumerLag: Gauge<'partition'>;
  readonly pendingKeys: Gauge<'site'>;
  readonly failedKeys: Gauge<'site'>;
  readonly oldestPendingAge: Gauge<'site'>;
  readonly backlogRefreshed: Gauge;
  readonly backlogRefreshFailures: Counter<'source'>;
  private readonly kinds = new BoundedLabel(50);
  /** Partitions with a lag series, so a rebalance can drop those assigned elsewhere. */
  private readonly lagPartitions = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.journalMessages = new Counter({
      name: 'crr_journal_messages_total',
      help: 'Journal records consumed, by outcome (signalled, skipped_by_rule, no_replication_rules, replica, version_delete, not_pending, skipped_event, dead_lettered)',
      labelNames: ['outcome'],
      registers,
    });
    this.signals = new Counter({
      name: 'crr_signals_total',
      help: 'Signal-with-start requests to Temporal, by outcome (accepted; unavailable, refused, rejected: failed attempts)',
      labelNames: ['outcome'],
      registers,
    });
    this.signalledTasks = new Counter({
      name: 'crr_signalled_tasks_total',
      help: 'Replication tasks (one version for one destination site) accepted by Temporal',
      labelNames: ['site'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'crr_dead_letters_total',
      help: 'Journal messages dead-lettered, by kind of reason (e.g. "invalid s3.object.size", "signal refused")',
      labelNames: ['reason_kind'],
      registers,
    });
    this.deadLettersUnwritten = new Counter({
      name: 'crr_dead_letters_unwritten_total',
      help: 'Dead letters the dead-letter topic did not take after every attempt (logged at error level instead)',
      registers,
    });
    this.consumerLag = new Gauge({
      name: 'crr_journal_consumer_lag',
      help: "Journal records not yet processed, per partition assigned to this populator (high watermark minus the consumer's position)",
      labelNames: ['partition'],
      registers,
    });
    this.pendingKeys = new Gauge({
      name: 'crr_pending_keys',
      help: 'Keys with versions waiting to be replicated (open replication workflows not FAILED), per destination site',
      labelNames: ['site'],
      registers,
    });
    this.failedKeys = new Gauge({
      name: 'crr_failed_keys',
      help: 'Keys with FAILED versions waiting for an operator (replication retry), per destination site',
      labelNames: ['site'],
      registers,
    });
    this.oldestPendingAge = new Gauge({
      name: 'crr_oldest_pending_age_seconds',
      help: 'Age of the oldest open, not FAILED replication workflow per destination site (0 when none): the RPO at risk',
      labelNames: ['site'],
      registers,
    });
    this.backlogRefreshed = new Gauge({
      name: 'crr_backlog_refreshed_timestamp_seconds',
      help: 'When crr_pending_keys, crr_failed_keys and crr_oldest_pending_age_seconds were last counted (Unix time)',
      registers,
    });
    this.backlogRefreshFailures = new Counter({
      name: 'crr_backlog_refresh_failures_total',
      help: 'Periodic backlog counts that failed, by source (temporal: visibility counts; kafka: consumer lag)',
      labelNames: ['source'],
      registers,
    });
  }

  /** Zero series for every outcome and site, so rates and alerts see 0 rather than nothing. */
  init(sites: readonly string[]): void {
    safely(() => {
      for (const outcome of JOURNAL_OUTCOMES) this.journalMessages.inc({ outcome }, 0);
      for (const outcome of SIGNAL_OUTCOMES) this.signals.inc({ outcome }, 0);
      for (const site of sites) this.signalledTasks.inc({ site }, 0);
      this.deadLettersUnwritten.inc(0);
      for (const source of ['temporal', 'kafka']) this.backlogRefreshFailures.inc({ source }, 0);
    });
  }

  /** What a processed chunk's records became (counted once the chunk is done). */
  journal(outcomes: ReadonlyMap<JournalOutcome, number>): void {
    safely(() => {
      for (const [outcome, count] of outcomes) if (count > 0) this.journalMessages.inc({ outcome }, count);
    });
  }

  signal(outcome: SignalOutcome): void {
    safely(() => this.signals.inc({ outcome }));
  }

  tasksSignalled(site: string, count: number): void {
    safely(() => this.signalledTasks.inc({ site }, count));
  }

  deadLettered(kind: string, count = 1): void {
    safely(() => this.deadLetters.inc({ reason_kind: this.kinds.of(kind) }, count));
  }

  deadLettersLogged(count: number): void {
    safely(() => this.deadLettersUnwritten.inc(count));
  }

  /** The lag of a partition, from a high watermark and the next offset to process. */
  lag(partition: number | string, highWatermark: string, nextOffset: string): void {
    safely(() => {
      const lag = consumerLag(highWatermark, nextOffset);
      if (lag === undefined) return;
      this.consumerLag.set({ partition: String(partition) }, lag);
      this.lagPartitions.add(String(partition));
    });
  }

  /** After a rebalance: partitions now consumed elsewhere are no longer reported here. */
  keepPartitions(assigned: ReadonlyArray<number | string>): void {
    safely(() => {
      const keep = new Set(assigned.map(String));
      for (const partition of this.lagPartitions) {
        if (keep.has(partition)) continue;
        this.consumerLag.remove({ partition });
        this.lagPartitions.delete(partition);
      }
    });
  }

  backlog(site: string, found: SiteBacklog): void {
    safely(() => {
      this.pendingKeys.set({ site }, found.pendingKeys);
      this.failedKeys.set({ site }, found.failedKeys);
      this.oldestPendingAge.set({ site }, found.oldestPendingAgeSeconds);
    });
  }

  backlogCounted(at = Date.now()): void {
    safely(() => this.backlogRefreshed.set(at / 1000));
  }

  backlogFailed(source: 'temporal' | 'kafka'): void {
    safely(() => this.backlogRefreshFailures.inc({ source }));
  }
}

function safely(record: () => void): void {
  try {
    record();
  } catch {
    // A metric is never worth holding up the journal.
  }
}

const perRegistry = new WeakMap<Registry, PopulatorMetrics>();

/** The populator metrics of a registry (the process's by default), created on first use. */
export function populatorMetrics(registry: Registry = processRegistry()): PopulatorMetrics {
  return singletonFor(perRegistry, registry, () => new PopulatorMetrics(registry));
}

import type { Client } from '@temporalio/client';
import type { Producer } from 'kafkajs';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { statusEvent, type StatusPublisher } from '../clients/status-publisher';
import {
  carriedSourceSite,
  journalTopicOf,
  rulesOf,
  sourceSites,
  type EngineConfig,
} from '../config/engine-config';
import type { JournalEntry, JournalMessage } from '../shared/journal-entry';
import type { ReplicationTask } from '../shared/replication-task';
import { deadLetterOf, sendDeadLetters, type DeadLetter } from './dead-letter';
import { decodeJournalMessage } from './journal/decode-journal-message';
import { JournalTally } from './journal-outcomes';
import type { PopulatorMetrics, SignalOutcome as SignalMetric } from '../metrics/populator-metrics';
import type { PopulatorStats } from './populator-stats';
import { planReplication, type TagsLookup } from './replication-planner';
import type { VersioningStatus } from './source-lookups';
import {
  classifyTemporalError,
  describeTemporalError,
  signalReplicationTasks,
  tasksBySignal,
  type TemporalErrorClass,
} from './workflow-signaller';
import { NULL_VERSION_ID } from '../shared/s3-names';

/** How recent a versioning answer must be to refuse an entry without versionId. */
const RECHECK_VERSIONING_MS = 1_000;
export interface ChunkDeps {
  config: EngineConfig;
  temporal: Client;
  producer: Producer;
  status: StatusPublisher;
  logger: Logger;
  stats: PopulatorStats;
  lookupTags: TagsLookup;
  /** The source bucket's versioning, cached; `maxAgeMs` asks for a recent answer. */
  versioning: (bucket: string, maxAgeMs?: number, sourceSite?: string) => Promise<VersioningStatus>;
  /** Sends one signal (a key's tasks); signalReplicationTasks unless a test replaces it. */
  signal?: (tasks: ReplicationTask[]) => Promise<unknown>;
  /** Prometheus counts (metrics/populator-metrics.ts); none when absent. */
  metrics?: PopulatorMetrics;
  /** Shared by the populator's chunks: since when Temporal as a whole has been unreachable. */
  reachability?: TemporalReachability;
}

/**
 * Whether Temporal answers at all. While it does not, no key is handed off: every key waits
 * for the same outage, and chunks piling up in the background would only multiply the
 * signals that hit Temporal when it comes back.
 */
export interface TemporalReachability {
  unreachableSince: number | undefined;
}

/** How a chunk learns that its partition was revoked or the populator is stopping. */
export interface ChunkControl {
  interrupted(): boolean;
  /** Waits `ms`, or less when interrupted. */
  sleep(ms: number): Promise<void>;
}

/**
 * One key's signalling in one chunk. The next chunk's tasks of the same key wait for `done`
 * (journal order per key); `handedOff` resolves once the job is done, has waited on its own
 * signal for `parkAfterMs`, or waits behind an earlier job of its key that was handed off.
 */
export interface KeyJob {
  workflowId: string;
  done: Promise<void>;
  handedOff: Promise<void>;
  finished: boolean;
  /** What the job threw (a bug, never a refusal): its chunk fails, and so do later jobs of its key. */
  failure?: unknown;
}

/**
 * What a partition's chunks share so that one slow key does not hold the others: each key's
 * last job (later chunks' tasks of that key queue behind it) and how long a chunk waits for a
 * slow key before the lane goes on without it.
 */
export interface KeyLanes {
  tails: Map<string, KeyJob>;
  parkAfterMs: number;
  /** While true, a slow key is not handed off (Temporal unreachable as a whole). */
  holdHandOff?: () => boolean;
}

export interface ChunkOptions {
  /** Shared with the partition's other chunks; a chunk on its own gets private ones. */
  keys?: KeyLanes;
  /**
   * Called once every key of the chunk was accepted, refused, or handed off (see KeyJob), so
   * the lane may go on with the next chunk while slow keys finish; called again (harmlessly)
   * when the chunk ends, unless it throws (the caller then knows it ended).
   */
  handedOff?: () => void;
}

/** A task and the journal message it came from (dead-lettered with it if Temporal refuses it). */
interface PlannedTask {
  task: ReplicationTask;
  origin: JournalMessage;
  /** Index of its entry in the chunk, for the journal counts. */
  entry: number;
}

type SignalOutcome =
  { ok: true } | { ok: false; interrupted: true } | { ok: false; reason: string; kind: string };

const STATUS_TIMEOUT_MS = 5000;

/** How a failed signal attempt is counted (crr_signals_total). */
const SIGNAL_METRIC: Record<TemporalErrorClass, SignalMetric> = {
  unavailable: 'unavailable',
  refused: 'refused',
  permanent: 'rejected',
};

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Fields whose children are names chosen by users (metadata, tags): counted as the field itself. */
const OPEN_FIELDS = new Set(['userMetadata', 'tags', 'updatedFields']);

/** A short, bounded category for a refused field, e.g. `invalid s3.object.size`. */
export function refusalKind(field: string | undefined): string {
  if (!field) return 'invalid message';
  const kept: string[] = [];
  for (const segment of field.split('.')) {
    if (kept.length === 3) break;
    kept.push(/^\d+$/.test(segment) ? '#' : segment.slice(0, 40));
    if (OPEN_FIELDS.has(segment)) break;
  }
  return `invalid ${kept.join('.')}`;
}

/** New versions and delete markers in a versioned bucket always have a version id. */
function needsVersionId(entry: JournalEntry, config: EngineConfig): boolean {
  return (
    entry.versionId === NULL_VERSION_ID &&
    (entry.operation === 'put' || entry.operation === 'delete-marker') &&
    !entry.isReplica &&
    (rulesOf(config, entry.bucket, entry.sourceSite) !== undefined || entry.replication !== undefined)
  );
}

/**
 * One chunk of one partition: decode and validate every message, plan each entry (rules,
 * tags), signal each key's tasks in order (one signal per key, keys in parallel), write the
 * dead letters, publish PENDING statuses. Returns `completed: false` only when interrupted
 * (rebalance or stop) before every task was accepted: the chunk is then redelivered.
 * Nothing in here waits without bound except for Temporal as a whole being unreachable, and
 * that wait ends when the chunk is interrupted. With `options.keys`, a key whose signal is
 * slow (Temporal refusing it for a while) is handed off after `parkAfterMs`: the caller may
 * go on with later chunks, whose tasks of that key wait behind it.
 */
export async function processChunk(
  deps: ChunkDeps,
  control: ChunkControl,
  messages: JournalMessage[],
  options: ChunkOptions = {},
): Promise<{ completed: boolean; signalled: number }> {
  const result = await processChunkSteps(deps, control, messages, options);
  options.handedOff?.();
  return result;
}

async function processChunkSteps(
  deps: ChunkDeps,
  control: ChunkControl,
  messages: JournalMessage[],
  options: ChunkOptions,
): Promise<{ completed: boolean; signalled: number }> {
  const { config, logger, stats } = deps;
  const settings = config.populator;
  const limit = pLimit(settings.signalConcurrency);
  const letters: DeadLetter[] = [];
  const tally = new JournalTally();
  const deadLetter = (message: JournalMessage, reason: string, kind: string) =>
    letters.push(deadLetterOf(message, reason, { kind, valueBytes: settings.deadLetterValueBytes }));

  const siteOfTopic = new Map(sourceSites(config).map((site) => [journalTopicOf(config, site), site]));
  // 1. Decode and validate (synchronous, never throws).
  const entries: Array<{ entry: JournalEntry; origin: JournalMessage }> = [];
  for (const message of messages) {
    stats.message();
    const decoded = decodeJournalMessage(message);
    if (!decoded.ok) {
      deadLetter(message, decoded.reason, refusalKind(decoded.field));
      tally.add('dead_lettered');
      continue;
    }
    for (const reason of decoded.skipped ?? []) stats.skipped(reason);
    tally.add('skipped_event', decoded.skipped?.length ?? 0);
    stats.entries(decoded.entries.length);
    // The topic tells which site wrote it (the default journal topic: `sourceSite`).
    const sourceSite = carriedSourceSite(config, siteOfTopic.get(message.topic));
    for (const entry of decoded.entries) {
      if (sourceSite !== undefined) entry.sourceSite = sourceSite;
      entries.push({ entry, origin: message });
    }
  }

  // 2. Plan, in parallel but keeping journal order. Source lookups are bounded in time.
  const plans = await Promise.all(
    entries.map(({ entry, origin }, index) =>
      limit(async (): Promise<PlannedTask[]> => {
        try {
          if (
            needsVersionId(entry, config) &&
            (await deps.versioning(entry.bucket, undefined, entry.sourceSite)) === 'Enabled' &&
            // Versioning may have been suspended since the cached answer: ask again before refusing.
            (await deps.versioning(entry.bucket, RECHECK_VERSIONING_MS, entry.sourceSite)) === 'Enabled'
          ) {
            deadLetter(
              origin,
              `s3://${entry.bucket}/${entry.key}: versionId is missing (version "null") but the bucket's versioning is Enabled on the source`,
              'invalid versionId',
            );
            tally.add('dead_lettered');
            return [];
          }
          const plan = await planReplication(entry, config, deps.lookupTags);
          if (plan.skipKind) {
            stats.skipped(plan.skipKind);
            tally.skipped(plan.skipKind);
          }
          if (plan.tagsUnknown !== undefined) {
            const checked = plan.tasks.filter((t) => t.target.requiredTags).length;
            stats.tagsChecked(checked);
            logger.warn(
              { bucket: entry.bucket, key: entry.key, versionId: entry.versionId, reason: plan.tagsUnknown },
              checked > 0
                ? 'tags unreadable: the replication will check the tags the rule requires'
                : 'tags unreadable; no tag-filtered rule was chosen',
            );
          }
          return plan.tasks.map((task) => ({ task, origin, entry: index }));
        } catch (err) {
          deadLetter(origin, `planning failed: ${(err as Error).message}`, 'planning failed');
          tally.add('dead_lettered');
          return [];
        }
      }),
    ),
  );
  const planned = plans.flat();

  // 3. One signal per key (in pieces of MAX_TASKS_PER_SIGNAL), keys in parallel, each key
  // after its tasks of earlier chunks.
  const accepted: ReplicationTask[] = [];
  const refusedEntries = new Set<number>();
  let interrupted = false;
  const keys = options.keys ?? { tails: new Map<string, KeyJob>(), parkAfterMs: Infinity };
  const jobs = tasksBySignal(planned, (p) => p.task).map(({ workflowId, pieces }) =>
    keyJob(keys, workflowId, () =>
      limit(async () => {
        for (const [i, piece] of pieces.entries()) {
          if (interrupted) return;
          const tasks = piece.map((p) => p.task);
          const outcome = await signalWithRetries(deps, control, tasks);
          if (outcome.ok) {
            accepted.push(...tasks);
            stats.signalled(tasks.length);
            deps.metrics?.tasksSignalled(tasks[0]!.target.site, tasks.length);
            continue;
          }
          if ('interrupted' in outcome) {
            interrupted = true;
            return;
          }
          // Refused for this key: this piece and the rest of the key's tasks in this chunk are
          // dead-lettered together (later ones would only wait for the same refusal).
          const refused = pieces.slice(i).flat();
          const seen = new Set<string>();
          for (const { entry } of refused) refusedEntries.add(entry);
          for (const { task, origin } of refused) {
            const reason = `${outcome.reason} (s3://${task.entry.bucket}/${task.entry.key} version ${task.entry.versionId} to site ${task.target.site})`;
            const id = `${origin.partition}/${origin.offset}/${task.target.site}/${task.entry.versionId}`;
            if (seen.has(id)) continue;
            seen.add(id);
            deadLetter(origin, reason, outcome.kind);
          }
          logger.error({ workflowId, tasks: refused.length }, `${outcome.reason}: tasks dead-lettered`);
          return;
        }
      }),
    ),
  );
  // PENDING for what was accepted by the hand-off goes out then, not after the slow keys.
  const statuses: Array<Promise<void>> = [];
  let published = 0;
  const publishPending = () => {
    const tasks = accepted.slice(published);
    published = accepted.length;
    if (tasks.length === 0) return;
    statuses.push(
      deps.status.publish(tasks.map((task) => statusEvent(task, 'PENDING'))).catch((err: unknown) => {
        logger.warn({ err: (err as Error).message }, 'could not publish PENDING statuses');
      }),
    );
  };
  await Promise.all(jobs.map((job) => job.handedOff));
  const waiting = jobs.filter((job) => !job.finished).map((job) => job.workflowId);
  if (waiting.length > 0) {
    logger.warn(
      { workflowIds: waiting.slice(0, 5), keys: waiting.length, parkAfterMs: keys.parkAfterMs },
      'keys Temporal has not accepted yet go on in the background: the partition moves on, their later tasks wait behind them, the commit stays before them',
    );
    publishPending();
    options.handedOff?.();
  }
  await Promise.all(jobs.map((job) => job.done));
  const failed = jobs.find((job) => job.failure !== undefined);
  if (failed) throw failed.failure;
  if (interrupted) return { completed: false, signalled: accepted.length };
  tally.planned(
    plans.flatMap((tasks, entry) => (tasks.length > 0 ? [entry] : [])),
    refusedEntries,
  );
  deps.metrics?.journal(tally.counts);

  // 4. Dead letters: bounded in size and time, never blocking.
  if (letters.length > 0) {
    for (const letter of letters) {
      stats.deadLettered(letter.kind);
      deps.metrics?.deadLettered(letter.kind);
      logger.warn(
        {
          origin: `${letter.topic}/${letter.partition}/${letter.offset}`,
          valueBytes: letter.valueBytes,
          reason: letter.reason,
        },
        'journal message dead-lettered',
      );
    }
    const { logged } = await sendDeadLetters(deps.producer, config.kafka.deadLetterTopic, letters, {
      logger,
      requestBytes: settings.deadLetterRequestBytes,
      attempts: settings.deadLetterAttempts,
    });
    if (logged > 0) {
      stats.deadLettersLogged(logged);
      deps.metrics?.deadLettersLogged(logged);
    }
  }

  // 5. PENDING statuses: best effort.
  publishPending();
  if (statuses.length > 0) await withTimeout(Promise.all(statuses), STATUS_TIMEOUT_MS);
  return { completed: true, signalled: accepted.length };
}

/**
 * Starts `signal` once the key's previous job is done (journal order per key) and records
 * the new job as the key's last. Its `done` never rejects: a failure is kept in `failure`,
 * and a key's later jobs fail with it rather than overtake tasks that will be redelivered.
 */
function keyJob(keys: KeyLanes, workflowId: string, signal: () => Promise<void>): KeyJob {
  const previous = keys.tails.get(workflowId);
  const job: KeyJob = { workflowId, done: Promise.resolve(), handedOff: Promise.resolve(), finished: false };
  job.done = (async () => {
    try {
      if (previous) await previous.done;
      if (previous?.failure !== undefined) throw previous.failure;
      await signal();
    } catch (err) {
      job.failure = err ?? new Error(`signalling ${workflowId} failed`);
    } finally {
      job.finished = true;
      if (keys.tails.get(workflowId) === job) keys.tails.delete(workflowId);
    }
  })();
  job.handedOff = (async () => {
    if (previous) {
      await previous.handedOff;
      // Behind a key that was handed off: handed off too, the lane need not wait for it.
      if (!previous.finished) return;
    }
    await waitAtMost(job.done, keys.parkAfterMs);
    while (!job.finished && keys.holdHandOff?.()) await waitAtMost(job.done, 250);
  })();
  keys.tails.set(workflowId, job);
  return job;
}

/** Waits for `work`, or `ms` at most (never when `ms` is Infinity). */
async function waitAtMost(work: Promise<unknown>, ms: number): Promise<void> {
  if (!Number.isFinite(ms)) {
    await work;
    return;
  }
  await withTimeout(work, ms);
}

/** A signal slower than this is logged: every key of its partition waited for it. */
const SLOW_SIGNAL_MS = 2_000;

/**
 * One signal, retried by class of error: while Temporal is unreachable, with backoff and
 * without bound (until interrupted); when Temporal refuses this key, for `keyRetryMs`; when
 * the request is invalid, not at all.
 */
async function signalWithRetries(
  deps: ChunkDeps,
  control: ChunkControl,
  tasks: ReplicationTask[],
): Promise<SignalOutcome> {
  const { config, logger } = deps;
  const settings = config.populator;
  const signal = deps.signal ?? ((t: ReplicationTask[]) => signalReplicationTasks(deps.temporal, config, t));
  let delay = 250;
  let refusedSince: number | undefined;
  for (let attempt = 1; ; attempt++) {
    if (control.interrupted()) return { ok: false, interrupted: true };
    try {
      const started = Date.now();
      await signal(tasks);
      deps.metrics?.signal('accepted');
      if (deps.reachability) deps.reachability.unreachableSince = undefined;
      const tookMs = Date.now() - started;
      if (tookMs >= SLOW_SIGNAL_MS) {
        const { entry, target } = tasks[0]!;
        logger.warn(
          { bucket: entry.bucket, key: entry.key, site: target.site, tookMs },
          'Temporal was slow to accept a signal (its partition waited)',
        );
      }
      return { ok: true };
    } catch (err) {
      const kind = classifyTemporalError(err);
      // Any other answer (a refusal, a rejection) comes from a reachable Temporal.
      if (deps.reachability) {
        if (kind === 'unavailable') deps.reachability.unreachableSince ??= Date.now();
        else deps.reachability.unreachableSince = undefined;
      }
      deps.metrics?.signal(SIGNAL_METRIC[kind]);
      const text = describeTemporalError(err);
      if (kind === 'permanent') {
        return { ok: false, reason: `Temporal rejected the signal: ${text}`, kind: 'signal rejected' };
      }
      let maxDelay = settings.maxBackoffMs;
      if (kind === 'refused') {
        refusedSince ??= Date.now();
        const elapsed = Date.now() - refusedSince;
        if (elapsed >= settings.keyRetryMs) {
          return {
            ok: false,
            reason: `Temporal refused the signal for ${(elapsed / 1000).toFixed(1)} s (${attempt} attempts): ${text}`,
            kind: 'signal refused',
          };
        }
        maxDelay = Math.min(maxDelay, 10_000, Math.max(settings.keyRetryMs - elapsed, 50));
      }
      if (attempt === 1 || attempt % 10 === 0) {
        const { entry, target } = tasks[0]!;
        logger.warn(
          { bucket: entry.bucket, key: entry.key, site: target.site, attempt, err: text, retryInMs: delay },
          kind === 'unavailable'
            ? 'Temporal unreachable: waiting (nothing is skipped)'
            : 'Temporal refused the signal: retrying',
        );
      }
      await control.sleep(Math.min(delay, maxDelay) * (0.8 + Math.random() * 0.4));
      delay = Math.min(delay * 2, settings.maxBackoffMs);
    }
  }
}

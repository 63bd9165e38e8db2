import { setMaxListeners } from 'node:events';
import { Context } from '@temporalio/activity';
import type { Transfer } from '../shared/copy-plan';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { applyChange } from './apply-change';
import type { S3Client } from '@aws-sdk/client-s3';
import { cancellableClient } from './cancellation';
import { UnansweredWrites } from '../clients/s3-expiring-writes';
import { KeyGate } from './key-gate';
import { keepHeartbeating } from './heartbeats';
import type { PendingChange } from './placement';
import { replicateDeleteMarker } from './replicate-delete-marker';
import { replicateObjectTags, type TagsOptions } from './replicate-object-tags';
import type { ReplicationContext } from './replication-context';
import type { StatusEvent } from '../clients/status-publisher';
import { announceAttempt } from './attempt-status';
import { workerMetrics, type WorkerMetrics } from '../metrics/worker-metrics';

export type { ReplicationContext } from './replication-context';
export type { PendingChange } from './placement';
export { MarkerCache } from './version-history';
export { SourcePartsFallbacks } from './copy-source-parts';

/** Node warns above 10 listeners on one signal; an attempt may have that many requests at once. */
const MAX_REQUESTS_PER_ATTEMPT = 1_000;

/**
 * The replication activities, bound to the clients they use (dependency injection keeps
 * them testable and lets one worker serve several sites). Their metrics go to the process's
 * registry unless `metrics` says otherwise; counting is in memory and never throws.
 */
export function createReplicationActivities(
  ctx: ReplicationContext,
  metrics: WorkerMetrics = workerMetrics(),
) {
  // The status topic is for observers; Temporal holds the authoritative status, so a Kafka
  // hiccup is logged but never fails or delays a replication.
  const publish = async (events: StatusEvent[]) => {
    try {
      await ctx.status.publish(events);
    } catch (err) {
      ctx.logger.warn({ err, events: events.length }, 'could not publish replication status');
    }
  };

  // A change from another source site than the default reads that site's bucket.
  const contextFor = (task: ReplicationTask): ReplicationContext => {
    const site = task.entry.sourceSite;
    if (site === undefined || site === ctx.sourceSite) return ctx;
    if (!ctx.sourceClient) throw new Error(`no S3 client for source site "${site}"`);
    return { ...ctx, sourceSite: site, source: ctx.sourceClient(site) };
  };

  // An attempt's requests end with it (cancellation.ts): a timed-out attempt stops writing.
  // Its writes expire in flight; those left unanswered are noted in `unanswered`.
  const attemptContext = (task: ReplicationTask, unanswered: UnansweredWrites): ReplicationContext => {
    const base = contextFor(task);
    const signal = Context.current().cancellationSignal;
    // Each request in flight listens on it: a multipart copy's parts, its source GETs.
    setMaxListeners(MAX_REQUESTS_PER_ATTEMPT, signal);
    const bound = (client: S3Client) => cancellableClient(client, signal, unanswered);
    const sourceClient = base.sourceClient;
    return {
      ...base,
      source: bound(base.source),
      targetClient: (site) => bound(base.targetClient(site)),
      ...(sourceClient ? { sourceClient: (site: string) => bound(sourceClient(site)) } : {}),
    };
  };

  const gate = new KeyGate();
  const tracked = async (
    task: ReplicationTask,
    work: (unanswered: UnansweredWrites) => Promise<ReplicationOutcome>,
  ) => {
    const activity = Context.current();
    const attempt = activity.info.attempt;
    const log = ctx.logger.child({
      bucket: task.entry.bucket,
      key: task.entry.key,
      versionId: task.entry.versionId,
      site: task.target.site,
      operation: task.entry.operation,
      attempt,
    });
    const announced = announceAttempt(publish, task, attempt);
    const started = Date.now();
    const measured = metrics.attemptStarted(task);
    const stopHeartbeats = keepHeartbeating();
    try {
      // One attempt at a time per target key in this worker (key-gate.ts), held on until
      // the attempt's unanswered writes have expired.
      const unanswered = new UnansweredWrites();
      const outcome = await gate.run(
        `${task.target.site}\u0000${task.target.bucket}\u0000${task.entry.key}`,
        activity.cancellationSignal,
        () => work(unanswered),
        {
          onWait: () => log.info('waiting for an earlier attempt on this key in this worker to end'),
          settled: () => {
            const ms = unanswered.remainingMs();
            if (ms > 0)
              log.info(
                { ms: Math.round(ms) },
                'a write of this attempt got no answer: the key waits until its signature has expired',
              );
            return unanswered.settled();
          },
        },
      );
      measured.succeeded(outcome);
      await announced.completed(outcome);
      log.info({ ms: Date.now() - started, bytes: outcome.bytes, detail: outcome.detail }, 'replicated');
      return outcome;
    } catch (err) {
      measured.failed(err); // no-op when the attempt already succeeded (publishing never throws)
      await announced.failed();
      log.warn({ err: (err as Error).message, ms: Date.now() - started }, 'replication attempt failed');
      throw err;
    } finally {
      stopHeartbeats();
    }
  };

  return {
    /** A put: copied in the source's order (with the queued changes that precede it there). */
    /** `transfer` is the workflow's multipart decision for this version (shared/copy-plan.ts). */
    async copyObjectVersion(
      task: ReplicationTask,
      pending: PendingChange[] = [],
      transfer?: Transfer,
    ): Promise<ReplicationOutcome> {
      return tracked(task, (u) => applyChange(attemptContext(task, u), task, pending, transfer));
    },
    async replicateObjectTags(
      task: ReplicationTask,
      knownTargetVersionId?: string,
      options?: TagsOptions,
    ): Promise<ReplicationOutcome> {
      return tracked(task, (u) =>
        replicateObjectTags(attemptContext(task, u), task, knownTargetVersionId, options),
      );
    },
    async replicateDeleteMarker(
      task: ReplicationTask,
      pending: PendingChange[] = [],
    ): Promise<ReplicationOutcome> {
      return tracked(task, (u) => replicateDeleteMarker(attemptContext(task, u), task, pending));
    },
    /** Used by the workflow for the FAILED status, which no activity attempt can report itself. */
    async publishReplicationStatus(events: StatusEvent[]): Promise<void> {
      for (const event of events)
        if (event.status === 'FAILED') metrics.versionFailed(event.site, event.operation);
      await publish(events);
    },
  };
}

export type ReplicationActivities = ReturnType<typeof createReplicationActivities>;

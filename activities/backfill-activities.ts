import { Context } from '@temporalio/activity';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { EngineConfig } from '../config/engine-config';
import { backfillVersionDigest, type BackfillRequest } from '../shared/backfill';
import { MAX_TASKS_PER_SIGNAL } from '../shared/workflow-contract';
import type { ReplicationTask } from '../shared/replication-task';
import { backfillCandidates, compareKeys, listVersionsPage, type ListingMarker } from './backfill-listing';
import { keepHeartbeating, reportProgress } from './heartbeats';

export interface BackfillActivityDeps {
  /** The running config (its rules change on reload). */
  config: () => EngineConfig;
  /** A source site's client (rebuilt when its config entry changes); undefined: the config's `sourceSite`. */
  source: (site?: string) => S3Client;
  /** Signal-with-start of one key's tasks (clients/replication-signals.ts). */
  signal: (tasks: ReplicationTask[]) => Promise<unknown>;
  logger: Logger;
  /** Keys signalled at once. */
  signalConcurrency?: number;
}

export interface BackfillPageInput {
  request: BackfillRequest;
  workflowId: string;
  marker?: ListingMarker;
  maxVersions: number;
}

export interface BackfillPageResult {
  listed: number;
  skipped: number;
  submitted: number;
  submittedBytes: number;
  /**
   * backfillVersionDigest of every version submitted from this page (whichever attempt
   * signalled it): the backfill waits for one outcome of each, and only one.
   */
  submittedIds: string[];
  next?: ListingMarker;
}

export interface BackfillCountInput {
  request: BackfillRequest;
  workflowId: string;
}

/** Heartbeat details of a count: where it is, and what it counted so far. */
interface CountProgress {
  marker?: ListingMarker;
  versions: number;
  bytes: number;
}

/**
 * The backfill's activities. They run on the destination site's task queue, so a paused
 * site (no worker polls its queue) pauses its backfill too.
 */
export function createBackfillActivities(deps: BackfillActivityDeps) {
  return {
    /**
     * Lists one page and submits what the rules send to the site, one signal per key, oldest
     * version first. A retried attempt lists the same page and skips the keys its predecessor
     * already signalled (heartbeat); a key signalled twice is harmless (its workflow drops
     * the second delivery).
     */
    async submitBackfillPage(input: BackfillPageInput): Promise<BackfillPageResult> {
      const activity = Context.current();
      // The last key of the unbroken run its predecessor signalled (keys come in listing order).
      const before = (activity.info.heartbeatDetails as { signalledThrough?: string } | undefined)
        ?.signalledThrough;
      const stop = keepHeartbeating();
      try {
        const page = await listVersionsPage(
          deps.source(input.request.sourceSite),
          input.request,
          input.marker,
          Math.min(1000, Math.max(1, input.maxVersions)),
          activity.cancellationSignal,
        );
        const candidates = backfillCandidates(page.entries, input.request, deps.config(), input.workflowId);
        let signalled = 0;
        const limit = pLimit(deps.signalConcurrency ?? 16);
        const keys =
          before === undefined
            ? candidates.byKey
            : candidates.byKey.filter(({ key }) => compareKeys(key, before) > 0);
        // Keys are signalled in parallel, but progress only counts the unbroken run from the start.
        const finished = new Array<boolean>(keys.length).fill(false);
        await Promise.all(
          keys.map(({ tasks }, index) =>
            limit(async () => {
              activity.cancellationSignal.throwIfAborted();
              for (let i = 0; i < tasks.length; i += MAX_TASKS_PER_SIGNAL)
                await deps.signal(tasks.slice(i, i + MAX_TASKS_PER_SIGNAL));
              finished[index] = true;
              const from = signalled;
              while (signalled < keys.length && finished[signalled]) signalled++;
              if (signalled > from) reportProgress({ signalledThrough: keys[signalled - 1]!.key });
            }),
          ),
        );
        return {
          listed: page.entries.length,
          skipped: candidates.skipped,
          submitted: candidates.versions,
          submittedBytes: candidates.bytes,
          submittedIds: candidates.byKey.flatMap(({ key, tasks }) =>
            tasks.map((t) => backfillVersionDigest(key, t.entry.versionId)),
          ),
          ...(page.next ? { next: page.next } : {}),
        };
      } finally {
        stop();
      }
    },

    /** Counts what the backfill will submit, for its estimate of the time left (resumable). */
    async countBackfillScope(input: BackfillCountInput): Promise<{ versions: number; bytes: number }> {
      const activity = Context.current();
      let progress: CountProgress = (activity.info.heartbeatDetails as CountProgress | undefined) ?? {
        versions: 0,
        bytes: 0,
      };
      const stop = keepHeartbeating();
      try {
        for (;;) {
          const page = await listVersionsPage(
            deps.source(input.request.sourceSite),
            input.request,
            progress.marker,
            1000,
            activity.cancellationSignal,
          );
          const found = backfillCandidates(page.entries, input.request, deps.config(), input.workflowId);
          progress = {
            versions: progress.versions + found.versions,
            bytes: progress.bytes + found.bytes,
            ...(page.next ? { marker: page.next } : {}),
          };
          reportProgress(progress);
          if (!page.next) return { versions: progress.versions, bytes: progress.bytes };
        }
      } finally {
        stop();
      }
    },
  };
}

export type BackfillActivities = ReturnType<typeof createBackfillActivities>;

import { GetBucketVersioningCommand, GetObjectTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import { classifyError, describeS3Error } from '../clients/s3-errors';
import type { JournalEntry } from '../shared/journal-entry';
import type { TagsLookup } from './replication-planner';
import { NULL_VERSION_ID } from '../shared/s3-names';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const MAX_ATTEMPTS = 3;
const MIN_ATTEMPT_MS = 500;

/**
 * Reads a version's tags on the source, classified like the activities' errors: a transient
 * error (network, 5xx, throttling, timeout) is retried for at most `retryMs`; then, and at
 * once for a permanent one (the version is gone, access denied), the answer is "unknown"
 * with the reason, and planning carries on without the tags. Never waits longer than about
 * `retryMs` (each attempt is cut off when the time is up).
 */
export function createTagsLookup(source: S3Client, retryMs: number): TagsLookup {
  return async (entry: JournalEntry) => {
    const deadline = Date.now() + retryMs;
    const what = `GetObjectTagging of s3://${entry.bucket}/${entry.key} version ${entry.versionId}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await source.send(
          new GetObjectTaggingCommand({
            Bucket: entry.bucket,
            Key: entry.key,
            VersionId: entry.versionId === NULL_VERSION_ID ? undefined : entry.versionId,
          }),
          { abortSignal: AbortSignal.timeout(Math.max(deadline - Date.now(), MIN_ATTEMPT_MS)) },
        );
        return { tags: Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) };
      } catch (err) {
        const kind = classifyError(err);
        const backoff = 100 * 3 ** (attempt - 1);
        if (kind === 'permanent') return { unknown: `${what} failed: ${describeS3Error(err)}` };
        if (attempt >= MAX_ATTEMPTS || Date.now() + backoff >= deadline) {
          return {
            unknown: `${what} failed after ${attempt} attempt(s): ${describeS3Error(err)} (transient)`,
          };
        }
        await sleep(backoff);
      }
    }
  };
}

export type VersioningStatus = 'Enabled' | 'Suspended' | 'Unversioned' | 'unknown';

/**
 * A source bucket's versioning status, cached per bucket for `cacheMs` (a failed lookup for
 * a few seconds only), or for less when the caller says how old an answer it accepts
 * (`maxAgeMs`: before refusing an entry, the answer is checked again, since versioning may
 * have been suspended a moment ago). Concurrent asks for one bucket share one request.
 * "unknown" when the source cannot tell: the caller then accepts entries as before.
 */
export function createVersioningLookup(
  source: S3Client,
  cacheMs: number,
  timeoutMs = 2000,
): (bucket: string, maxAgeMs?: number) => Promise<VersioningStatus> {
  const cache = new Map<string, { at: number; until: number; status: Promise<VersioningStatus> }>();
  const FAILED_CACHE_MS = Math.min(cacheMs, 5000);
  return (bucket, maxAgeMs = cacheMs) => {
    const now = Date.now();
    const cached = cache.get(bucket);
    if (cached && cached.until > now && now - cached.at <= maxAgeMs) return cached.status;
    const status = source
      .send(new GetBucketVersioningCommand({ Bucket: bucket }), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      })
      .then(
        (out): VersioningStatus =>
          out.Status === 'Enabled' || out.Status === 'Suspended' ? out.Status : 'Unversioned',
        (): VersioningStatus => 'unknown',
      );
    const slot = { at: now, until: now + cacheMs, status };
    cache.set(bucket, slot);
    void status.then((s) => {
      if (s === 'unknown') slot.until = Date.now() + FAILED_CACHE_MS;
    });
    if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
    return status;
  };
}

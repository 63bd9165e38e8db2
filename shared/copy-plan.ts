import type { TaskEntry } from './replication-task';

/**
 * How a version's bytes go to the target: one streaming PUT, or a multipart upload whose
 * parts survive a crash (the next attempt resumes it from its heartbeat).
 */
export type Transfer = 'single-put' | 'multipart';

/** The policy settings the decision reads (config `policy.*`). */
export interface TransferPolicy {
  multipartThresholdBytes: number;
  localActivityMaxBytes: number;
}

/** An S3 multipart ETag, `<32 hex>-<parts>`: the version was uploaded in parts. */
function uploadedInParts(etag: string | undefined): boolean {
  return etag !== undefined && /^"?[0-9a-f]{32}-\d+"?$/i.test(etag);
}

/**
 * The one place that decides multipart. The workflow calls it with the journal's size and
 * ETag for the change it schedules; an activity calls it with the source's own only for
 * versions it finds on the source without a journal entry in hand (copied ahead, in source
 * order). A size the journal did not give takes the resumable path. So does a version
 * uploaded in parts and too large to start locally: it is copied in the same parts, which
 * its ETag checks end to end and the replica keeps (activities/copy-source-parts.ts).
 */
export function transferFor(size: number | undefined, policy: TransferPolicy, etag?: string): Transfer {
  if (size === undefined || size > policy.multipartThresholdBytes) return 'multipart';
  return uploadedInParts(etag) && size > policy.localActivityMaxBytes ? 'multipart' : 'single-put';
}

/**
 * Whether a change starts as a local activity (no heartbeats, so nothing resumable): puts of
 * a known size up to `localActivityMaxBytes` copied with one PUT; tags and delete markers
 * unless local activities are disabled (0).
 */
export function startsLocally(entry: Pick<TaskEntry, 'operation' | 'size'>, policy: TransferPolicy): boolean {
  if (entry.operation !== 'put') return policy.localActivityMaxBytes > 0;
  return (
    policy.localActivityMaxBytes > 0 &&
    entry.size !== undefined &&
    entry.size <= policy.localActivityMaxBytes &&
    transferFor(entry.size, policy) === 'single-put'
  );
}

/**
 * Error type an activity throws when the source contradicts the plan it was given (a local
 * activity, or a single PUT, for a version larger than the journal said): the workflow goes
 * on at once with a regular, resumable activity planned from the size in the error's details.
 */
export const RUN_AS_REGULAR_ACTIVITY = 'RunAsRegularActivity';

/** The details of a RUN_AS_REGULAR_ACTIVITY failure. */
export interface ReplanDetails {
  sourceSize: number;
}

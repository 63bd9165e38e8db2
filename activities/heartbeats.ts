import { Context } from '@temporalio/activity';

/**
 * One heartbeat stream per activity attempt. Every regular activity heartbeats every couple
 * of seconds (the SDK throttles what reaches the server to 80% of the heartbeat timeout), so
 * a long copy never looks like a dead worker while a killed worker's attempt is retried after
 * the heartbeat timeout, not after the start-to-close timeout. The details are the attempt's
 * progress (a multipart upload's id and parts); until an attempt has its own, it keeps
 * sending the previous attempt's, which a later attempt may still need to resume.
 */
const progress = new WeakMap<Context, unknown>();
const HEARTBEAT_EVERY_MS = 2_000;

/** Records the attempt's progress and heartbeats it at once. */
export function reportProgress(details: unknown): void {
  const activity = Context.current();
  progress.set(activity, details);
  if (!activity.info.isLocal) activity.heartbeat(details);
}

/** Starts heartbeating the attempt's progress; returns the function that stops it. */
export function keepHeartbeating(): () => void {
  const activity = Context.current();
  if (activity.info.isLocal) return () => undefined; // a local activity has no heartbeat
  if (!progress.has(activity)) progress.set(activity, activity.info.heartbeatDetails);
  const beat = () => activity.heartbeat(progress.get(activity));
  // A first heartbeat without details would go out at once and hold back the first one with
  // progress; a retry sends its predecessor's details at once, for the attempt after it.
  if (progress.get(activity) !== undefined) beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

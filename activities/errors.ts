import { ApplicationFailure } from '@temporalio/activity';
import { classifyError, describeS3Error, errorCode } from '../clients/s3-errors';

/** Which replication a failure belongs to; every error message names it. */
export interface ReplicationSubject {
  bucket: string;
  key: string;
  versionId: string;
  site: string;
}

export function subjectOf(task: {
  entry: { bucket: string; key: string; versionId: string };
  target: { site: string };
}): ReplicationSubject {
  return {
    bucket: task.entry.bucket,
    key: task.entry.key,
    versionId: task.entry.versionId,
    site: task.target.site,
  };
}

export function describeSubject(s: ReplicationSubject): string {
  return `s3://${s.bucket}/${s.key} version ${s.versionId} to site ${s.site}`;
}

/** A readable reason: what failed, where, and the server's word for it. */
export function failureReason(step: string, subject: ReplicationSubject, err: unknown): string {
  return `${step} failed for ${describeSubject(subject)}: ${describeS3Error(err)}`;
}

/**
 * Turns an S3 error into the failure Temporal sees: permanent errors are non-retryable so
 * the workflow records FAILED at once; transient ones retry with the workflow's backoff.
 */
export function replicationFailure(
  step: string,
  subject: ReplicationSubject,
  err: unknown,
): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const reason = failureReason(step, subject, err);
  const kind = classifyError(err);
  return ApplicationFailure.create({
    message: reason,
    type: kind === 'permanent' ? `Permanent${errorCode(err)}` : `Transient${errorCode(err)}`,
    nonRetryable: kind === 'permanent',
    cause: err instanceof Error ? err : undefined,
  });
}

import { ApplicationFailure } from '@temporalio/activity';

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

// S3 error codes that no retry can fix: the operator has to act (or the version is gone).
const PERMANENT_CODES = new Set([
  'NoSuchVersion',
  'NoSuchKey',
  'NoSuchBucket',
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidObjectState',
  'InvalidArgument',
  'InvalidRequest',
  'InvalidBucketName',
  'InvalidStorageClass',
  'KeyTooLongError',
  'EntityTooLarge',
  'MethodNotAllowed',
  'MetadataTooLarge',
  'InvalidTag',
  'CredentialsProviderError',
  'InvalidClientTokenId',
  'InvalidToken',
  'InvalidSecurity',
  'AuthorizationHeaderMalformed',
]);

const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'ServiceUnavailable',
  'InternalError',
  'BadDigest',
  'XMinioServerNotInitialized',
  'XMinioStorageFull',
]);

export type ErrorClass = 'transient' | 'permanent';

interface S3LikeError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

// HEAD responses carry no error body, so the SDK can only say "Unknown" plus the HTTP status.
const CODE_OF_BODYLESS_STATUS: Record<number, string> = {
  403: 'AccessDenied',
  404: 'NotFound',
  400: 'BadRequest',
};

/** The SDK's names for an error answer without a body (HEAD, or a server that sent none). */
const BODYLESS_NAMES = new Set(['Unknown', 'UnknownError', 'NotFound']);

/**
 * An HTTP error answer the SDK could not name because it had no body: HEAD requests (pass the
 * operation, e.g. "HeadObject", when known) or "Unknown"/"UnknownError"/"NotFound" with a status.
 * Its code is a guess from the status (see errorCode); activities/diagnose-error.ts finds the real one.
 */
export function isBodylessS3Error(err: unknown, operation?: string): boolean {
  const e = err as S3LikeError;
  if (e?.$metadata?.httpStatusCode === undefined) return false;
  if (operation !== undefined && /^Head/.test(operation)) return true;
  const name = e.Code ?? e.name;
  return name !== undefined && BODYLESS_NAMES.has(name);
}

export function errorCode(err: unknown): string {
  const e = err as S3LikeError;
  const code = e?.Code ?? e?.name ?? e?.code ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  if ((code === 'Unknown' || code === 'UnknownError') && status !== undefined)
    return CODE_OF_BODYLESS_STATUS[status] ?? code;
  return code;
}

/** Network failures, throttling and 5xx retry; anything the request itself got wrong does not. */
export function classifyError(err: unknown): ErrorClass {
  const e = err as S3LikeError;
  const code = errorCode(err);
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if (PERMANENT_CODES.has(code)) return 'permanent';
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) return 'transient'; // no HTTP answer: connection refused, reset, timeout
  if (status >= 500 || status === 408 || status === 429) return 'transient';
  if (status === 404 || status === 403 || status === 400 || status === 405 || status === 411)
    return 'permanent';
  return 'transient';
}

/** A readable reason: what failed, where, and the server's word for it. */
export function failureReason(step: string, subject: ReplicationSubject, err: unknown): string {
  const e = err as S3LikeError;
  const status = e?.$metadata?.httpStatusCode;
  const message = e?.message && !['UnknownError', 'Unknown'].includes(e.message) ? e.message : '';
  return `${step} failed for ${describeSubject(subject)}: ${errorCode(err)}${status ? ` (HTTP ${status})` : ''}${message ? `: ${message}` : ''}`;
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

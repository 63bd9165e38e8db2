/**
 * What an S3 error means, for every caller (activities, populator, CLI): its code (guessed
 * from the status when the answer had no body), whether a retry can help, and the few
 * answers callers act on (the object or version is gone, the multipart upload is gone).
 */

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

/** The code of a write the target refused as expired (s3-expiring-writes.ts). */
export const WRITE_EXPIRED = 'WriteExpired';

const TRANSIENT_CODES = new Set([
  WRITE_EXPIRED, // it did not act; sent again, it reaches the target in time
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
 * Its code is a guess from the status (see errorCode); clients/s3-diagnosis.ts finds the real one.
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

/** The HTTP status of an S3 answer, when there was one. */
export function statusCode(err: unknown): number | undefined {
  return (err as S3LikeError)?.$metadata?.httpStatusCode;
}

/** A header of the answer an S3 error came with (its name matched case-insensitively). */
export function errorHeader(err: unknown, name: string): string | undefined {
  const headers =
    (err as { $response?: { headers?: Record<string, string | undefined> } })?.$response?.headers ?? {};
  const found = Object.entries(headers).find(([k]) => k.toLowerCase() === name);
  return found?.[1];
}

/** `NoSuchVersion (HTTP 404): The specified version does not exist.` (message cut at 300 characters) */
export function describeS3Error(err: unknown): string {
  const e = err as S3LikeError;
  const status = statusCode(err);
  const message = e?.message && !['UnknownError', 'Unknown'].includes(e.message) ? e.message : '';
  return `${errorCode(err)}${status ? ` (HTTP ${status})` : ''}${message ? `: ${message.slice(0, 300)}` : ''}`;
}

/** S3's answer for an object version that does not exist (any more). */
export function isGone(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'NoSuchVersion' || code === 'NoSuchKey';
}

/** A NoSuchUpload answer (or a bare 404 to a part request): the multipart upload was aborted or completed. */
export function isUploadGone(err: unknown): boolean {
  return errorCode(err) === 'NoSuchUpload' || statusCode(err) === 404;
}

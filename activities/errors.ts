import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { classifyError, describeS3Error, errorCode, statusCode, WRITE_EXPIRED } from '../clients/s3-errors';
import { RUN_AS_REGULAR_ACTIVITY } from '../shared/copy-plan';
import { failureCodeOf, type FailureCode } from '../shared/failure-codes';

/** Which replication a failure belongs to; every error message names it. */
export interface ReplicationSubject {
  bucket: string;
  key: string;
  versionId: string;
  site: string;
  /** The destination bucket, when known. */
  targetBucket?: string;
}

export function subjectOf(task: {
  entry: { bucket: string; key: string; versionId: string };
  target: { site: string; bucket?: string };
}): ReplicationSubject {
  return {
    bucket: task.entry.bucket,
    key: task.entry.key,
    versionId: task.entry.versionId,
    site: task.target.site,
    ...(task.target.bucket ? { targetBucket: task.target.bucket } : {}),
  };
}

export function describeSubject(s: ReplicationSubject): string {
  return `s3://${s.bucket}/${s.key} version ${s.versionId} to site ${s.site}${s.targetBucket ? ` (s3://${s.targetBucket})` : ''}`;
}

/** Which site a step talks to, when only one: it decides SOURCE_… or TARGET_… codes. */
export type Side = 'source' | 'target';

const SIDE_OF_STEP: Record<string, Side> = {
  'reading the source version': 'source',
  'copying data': 'target',
  'multipart copy': 'target',
  'replicating the delete marker': 'target',
  'replicating tags': 'target',
  'restoring the newer version as latest': 'target',
};

/** The stable code of an error met during `step` (shared/failure-codes.ts). */
export function failureCode(step: string, err: unknown): FailureCode {
  const side = SIDE_OF_STEP[step];
  const code = errorCode(err);
  const status = statusCode(err);
  const sided = (source: FailureCode, target: FailureCode, either: FailureCode) =>
    side === 'source' ? source : side === 'target' ? target : either;
  if (err instanceof ApplicationFailure) {
    if (err.type === 'PermanentNoRoomForMarker') return 'NO_ROOM_FOR_MARKER';
    if (/Mismatch$/.test(err.type ?? '')) return 'CHECKSUM_MISMATCH';
  }
  if (/size mismatch|checksum mismatch|arrived corrupted/i.test((err as Error)?.message ?? ''))
    return 'CHECKSUM_MISMATCH';
  switch (code) {
    case WRITE_EXPIRED:
      return 'WRITE_EXPIRED';
    case 'NoSuchVersion':
    case 'NoSuchKey':
      return 'SOURCE_VERSION_MISSING';
    case 'NoSuchBucket':
      return sided('SOURCE_BUCKET_MISSING', 'TARGET_BUCKET_MISSING', 'TARGET_BUCKET_MISSING');
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return sided('SOURCE_ACCESS_DENIED', 'TARGET_ACCESS_DENIED', 'TARGET_ACCESS_DENIED');
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'CredentialsProviderError':
    case 'InvalidClientTokenId':
    case 'InvalidToken':
    case 'AuthorizationHeaderMalformed':
      return 'INVALID_CREDENTIALS';
    case 'BadDigest':
    case 'InvalidDigest':
      return 'CHECKSUM_MISMATCH';
    case 'MetadataTooLarge':
      return 'METADATA_TOO_LARGE';
    case 'SlowDown':
    case 'Throttling':
    case 'ThrottlingException':
      return 'THROTTLED';
  }
  if (status === undefined) return sided('SOURCE_UNREACHABLE', 'TARGET_UNREACHABLE', 'TARGET_UNREACHABLE');
  if (status === 429) return 'THROTTLED';
  if (status >= 500) return 'SERVER_ERROR';
  if (status >= 400) return 'INVALID_REQUEST';
  return 'UNKNOWN';
}

/** A readable reason: its stable code, what failed, where, and the server's word for it. */
export function failureReason(step: string, subject: ReplicationSubject, err: unknown): string {
  return `[${failureCode(step, err)}] ${step} failed for ${describeSubject(subject)}: ${describeS3Error(err)}`;
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
  if (err instanceof ApplicationFailure) {
    // Our own failures (checksum mismatch, no room for the marker) get their code as well.
    if (err.type === RUN_AS_REGULAR_ACTIVITY || failureCodeOf(err.message)) return err;
    return ApplicationFailure.create({
      message: `[${failureCode(step, err)}] ${err.message}`,
      type: err.type ?? undefined,
      nonRetryable: err.nonRetryable ?? undefined,
      details: err.details ?? undefined,
      cause: err.cause,
    });
  }
  const reason = failureReason(step, subject, err);
  const kind = classifyError(err);
  return ApplicationFailure.create({
    message: reason,
    type: kind === 'permanent' ? `Permanent${errorCode(err)}` : `Transient${errorCode(err)}`,
    nonRetryable: kind === 'permanent',
    cause: err instanceof Error ? err : undefined,
  });
}

/**
 * A write that failed without an HTTP answer (S3 servers close the connection on an error
 * while the body is still being sent, e.g. a large PUT into a missing bucket): asks the
 * target about the bucket, within 3 s, and returns its error when the bucket is the cause.
 */
export async function explainWriteFailure(target: S3Client, bucket: string, err: unknown): Promise<unknown> {
  if (err instanceof ApplicationFailure || statusCode(err) !== undefined) return err;
  try {
    await target.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(3_000) });
    return err;
  } catch (probe) {
    const code = errorCode(probe);
    if (statusCode(probe) === 404 || code === 'NotFound' || code === 'NoSuchBucket') {
      return Object.assign(
        new Error(
          `the destination bucket ${bucket} does not exist (the write's connection was reset: ${(err as Error)?.message ?? err})`,
        ),
        {
          name: 'NoSuchBucket',
          Code: 'NoSuchBucket',
          $metadata: { httpStatusCode: 404 },
        },
      );
    }
    if (statusCode(probe) === 403) {
      return Object.assign(
        new Error(`access to the destination bucket ${bucket} is denied (the write's connection was reset)`),
        {
          name: 'AccessDenied',
          Code: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        },
      );
    }
    return err;
  }
}

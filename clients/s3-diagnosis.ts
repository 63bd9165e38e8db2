import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorHeader, isBodylessS3Error, statusCode } from './s3-errors';

/** The request that failed: its bucket and, for object requests, key and version. */
export interface S3RequestTarget {
  bucket: string;
  key?: string;
  versionId?: string;
}

export interface DiagnoseOptions {
  /** The failed operation ("HeadObject", "HeadBucket", ...): HEAD errors are always re-checked. */
  operation?: string;
  /** Bound on the re-check request (default 5 s). */
  timeoutMs?: number;
}

export const DIAGNOSIS_TIMEOUT_MS = 5_000;

/**
 * A bodyless S3 error with its real code and message, found by a second request that answers
 * with an error body. Shaped like an SDK error (`Code`, `name`, `message`, `$metadata`,
 * `$fault`), so activities/errors.ts classifies and describes it like any other; `cause` is
 * the original error.
 */
export class DiagnosedS3Error extends Error {
  readonly Code: string;
  readonly $metadata: { httpStatusCode?: number; requestId?: string };
  readonly $fault: 'client' | 'server';
  constructor(
    code: string,
    message: string,
    status: number | undefined,
    /** How the code was found, e.g. "GetObject bytes=0-0" or "x-minio-error-code header". */
    readonly diagnosedBy: string,
    original: unknown,
    requestId?: string,
  ) {
    super(message || code, { cause: original });
    this.name = code;
    this.Code = code;
    this.$metadata = { httpStatusCode: status, requestId };
    this.$fault = status !== undefined && status >= 500 ? 'server' : 'client';
  }
}

interface SdkErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const UNNAMED = new Set(['Unknown', 'UnknownError', 'NotFound', 'Error']);

/**
 * Client errors (4xx) only: 5xx, throttling and timeouts retry anyway and are not worth a
 * request. 404 neither: a HEAD answering 404 is how the engine learns that a key is absent
 * (a hot path), and the requests that follow (GET, PUT) name NoSuchBucket or NoSuchVersion.
 */
function worthRechecking(status: number | undefined): status is number {
  return (
    status !== undefined &&
    status >= 400 &&
    status < 500 &&
    status !== 404 &&
    status !== 408 &&
    status !== 429
  );
}

/**
 * Names the real cause of a bodyless S3 error. A 403 answer to HEAD has no body, so the SDK can
 * only say "Unknown" (errors.ts then guesses AccessDenied), hiding SignatureDoesNotMatch (wrong
 * secret), InvalidAccessKeyId (unknown key), RequestTimeTooSkewed (a clock off by > 15 min,
 * transient), AuthorizationHeaderMalformed (wrong region) and the like. This helper:
 *
 * 1. returns `err` unchanged unless it is bodyless (isBodylessS3Error) with a 4xx status other
 *    than 404/408/429 (so wrapping a HEAD whose 404 means "absent" costs nothing);
 * 2. uses MinIO's `x-minio-error-code`/`x-minio-error-desc` response headers when present (no
 *    request);
 * 3. otherwise sends one request that returns an error body, with the same client: GetObject
 *    `Range: bytes=0-0` on the same key and version (ListObjectVersions MaxKeys 1 on the bucket
 *    when there is no key), bounded by `timeoutMs`;
 * 4. returns a DiagnosedS3Error with the re-check's code and message when the re-check fails
 *    with a named error and the same HTTP status; the original error in every other case (the
 *    re-check succeeded, timed out, had no answer or a different status).
 *
 * It never throws. Call it in a catch block before classifying:
 * `throw replicationFailure(step, subject, await diagnoseS3Error(s3, { bucket, key, versionId }, err))`.
 */
export async function diagnoseS3Error(
  s3: S3Client,
  target: S3RequestTarget,
  err: unknown,
  options: DiagnoseOptions = {},
): Promise<unknown> {
  if (err instanceof DiagnosedS3Error || !isBodylessS3Error(err, options.operation)) return err;
  const status = statusCode(err);
  if (!worthRechecking(status)) return err;

  const minioCode = errorHeader(err, 'x-minio-error-code');
  if (minioCode && !UNNAMED.has(minioCode)) {
    const description = (errorHeader(err, 'x-minio-error-desc') ?? '').replace(/^"(.*)"$/, '$1');
    return new DiagnosedS3Error(
      minioCode,
      description,
      status,
      'x-minio-error-code header',
      err,
      (err as SdkErrorShape).$metadata?.requestId,
    );
  }

  const abortSignal = AbortSignal.timeout(options.timeoutMs ?? DIAGNOSIS_TIMEOUT_MS);
  const via = target.key !== undefined ? 'GetObject bytes=0-0' : 'ListObjectVersions MaxKeys=1';
  try {
    if (target.key !== undefined) {
      const answer = await s3.send(
        new GetObjectCommand({
          Bucket: target.bucket,
          Key: target.key,
          VersionId: target.versionId,
          Range: 'bytes=0-0',
        }),
        { abortSignal },
      );
      // One byte at most, but a server that ignores Range would stream the whole object.
      (answer.Body as { destroy?: () => void } | undefined)?.destroy?.();
    } else {
      await s3.send(new ListObjectVersionsCommand({ Bucket: target.bucket, MaxKeys: 1 }), {
        abortSignal,
      });
    }
    return err; // the re-check succeeded: nothing better to say (e.g. a HEAD-only condition)
  } catch (recheck) {
    const e = recheck as SdkErrorShape;
    const code = e?.Code ?? e?.name;
    if (!code || UNNAMED.has(code) || statusCode(recheck) !== status) return err;
    const message = e.message && e.message !== 'UnknownError' ? e.message : '';
    return new DiagnosedS3Error(code, message, status, via, err, e.$metadata?.requestId);
  }
}

/**
 * Runs one S3 request and, when it fails with a bodyless error, throws the diagnosed error
 * instead (see diagnoseS3Error). For example:
 * `await withDiagnosis(target, { bucket, key }, () => target.send(new HeadObjectCommand(...)), { operation: 'HeadObject' })`.
 */
export async function withDiagnosis<T>(
  s3: S3Client,
  target: S3RequestTarget,
  request: () => Promise<T>,
  options: DiagnoseOptions = {},
): Promise<T> {
  try {
    return await request();
  } catch (err) {
    throw await diagnoseS3Error(s3, target, err, options);
  }
}

import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { failureReason, replicationFailure } from '../../activities/errors';
import { classifyError, errorCode, isBodylessS3Error } from '../../clients/s3-errors';
import { DiagnosedS3Error, diagnoseS3Error, withDiagnosis } from '../../clients/s3-diagnosis';

/** An SDK error as the client throws it; `headers` become the hidden `$response`. */
function sdkError(name: string, status?: number, message = name, headers?: Record<string, string>) {
  const err = Object.assign(new Error(message), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status, requestId: 'req-1' },
  });
  if (headers) Object.defineProperty(err, '$response', { value: { statusCode: status, headers } });
  return err;
}

const bodyless403 = () => sdkError('Unknown', 403, 'UnknownError');

/** A fake S3 client whose send answers with `answer` (a value resolves, an Error rejects). */
function fakeS3(answer: unknown | ((command: unknown, options: { abortSignal?: AbortSignal }) => unknown)) {
  const send = jest.fn(async (command: unknown, options: { abortSignal?: AbortSignal } = {}) => {
    const result = typeof answer === 'function' ? answer(command, options) : answer;
    if (result instanceof Error) throw result;
    return result;
  });
  return { s3: { send } as unknown as S3Client, send };
}

const subject = { bucket: 'photos', key: 'cat.jpg', versionId: 'v1', site: 'dr' };
const where = { bucket: 'photos', key: 'cat.jpg', versionId: 'v1' };

describe('bodyless errors', () => {
  test.each([
    [sdkError('Unknown', 403, 'UnknownError'), undefined, true],
    [sdkError('UnknownError', 400), undefined, true],
    [sdkError('NotFound', 404), undefined, true],
    [sdkError('Forbidden', 403), 'HeadObject', true],
    [sdkError('AccessDenied', 403, 'Access Denied'), undefined, false],
    [sdkError('SignatureDoesNotMatch', 403), 'GetObject', false],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'HeadObject', false],
  ])('%p (operation %p) is bodyless: %p', (err, operation, expected) => {
    expect(isBodylessS3Error(err, operation)).toBe(expected);
  });
});

describe('diagnosing bodyless errors', () => {
  test.each([
    [
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
      'INVALID_CREDENTIALS',
    ],
    [
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
      'INVALID_CREDENTIALS',
    ],
    ['AccessDenied', 'Access Denied.', 'SOURCE_ACCESS_DENIED'],
  ])(
    'a HEAD 403 re-checked by a ranged GET that says %s is reported as such',
    async (code, message, stable) => {
      const { s3, send } = fakeS3(sdkError(code, 403, message));
      const diagnosed = await diagnoseS3Error(s3, where, bodyless403());
      expect(diagnosed).toBeInstanceOf(DiagnosedS3Error);
      expect(errorCode(diagnosed)).toBe(code);
      expect(classifyError(diagnosed)).toBe('permanent');
      expect(failureReason('reading the source version', subject, diagnosed)).toBe(
        `[${stable}] reading the source version failed for s3://photos/cat.jpg version v1 to site dr: ${code} (HTTP 403): ${message}`,
      );
      expect((diagnosed as DiagnosedS3Error).diagnosedBy).toBe('GetObject bytes=0-0');
      expect(send).toHaveBeenCalledTimes(1);
      const command = send.mock.calls[0]![0] as GetObjectCommand;
      expect(command).toBeInstanceOf(GetObjectCommand);
      expect(command.input).toEqual({
        Bucket: 'photos',
        Key: 'cat.jpg',
        VersionId: 'v1',
        Range: 'bytes=0-0',
      });
      expect(send.mock.calls[0]![1]?.abortSignal).toBeDefined();
    },
  );

  test('the failure Temporal sees names the real cause and keeps it non-retryable', async () => {
    const { s3 } = fakeS3(sdkError('SignatureDoesNotMatch', 403, 'wrong signature'));
    const failure = replicationFailure('copy', subject, await diagnoseS3Error(s3, where, bodyless403()));
    expect(failure.type).toBe('PermanentSignatureDoesNotMatch');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('SignatureDoesNotMatch (HTTP 403): wrong signature');
  });

  test('a skewed clock, hidden behind a bodyless 403, becomes transient', async () => {
    const { s3 } = fakeS3(sdkError('RequestTimeTooSkewed', 403, 'The difference is too large.'));
    const diagnosed = await diagnoseS3Error(s3, where, bodyless403());
    expect(classifyError(bodyless403())).toBe('permanent');
    expect(classifyError(diagnosed)).toBe('transient');
  });

  test("MinIO's error headers name the cause without a second request", async () => {
    const { s3, send } = fakeS3(new Error('must not be called'));
    const err = sdkError('Unknown', 403, 'UnknownError', {
      'x-minio-error-code': 'InvalidAccessKeyId',
      'x-minio-error-desc': '"The Access Key Id you provided does not exist in our records."',
    });
    const diagnosed = await diagnoseS3Error(s3, where, err);
    expect(errorCode(diagnosed)).toBe('InvalidAccessKeyId');
    expect((diagnosed as Error).message).toBe(
      'The Access Key Id you provided does not exist in our records.',
    );
    expect((diagnosed as DiagnosedS3Error).cause).toBe(err);
    expect(send).not.toHaveBeenCalled();
  });

  test('without a key, the bucket is re-checked with ListObjectVersions MaxKeys 1', async () => {
    const { s3, send } = fakeS3(sdkError('InvalidAccessKeyId', 403, 'unknown key'));
    const diagnosed = await diagnoseS3Error(s3, { bucket: 'photos' }, bodyless403(), {
      operation: 'HeadBucket',
    });
    expect(errorCode(diagnosed)).toBe('InvalidAccessKeyId');
    const command = send.mock.calls[0]![0] as ListObjectVersionsCommand;
    expect(command).toBeInstanceOf(ListObjectVersionsCommand);
    expect(command.input).toEqual({ Bucket: 'photos', MaxKeys: 1 });
  });

  test('when the re-check succeeds the original error is kept, and the body is released', async () => {
    const destroy = jest.fn();
    const { s3 } = fakeS3({ Body: { destroy } });
    const err = bodyless403();
    expect(await diagnoseS3Error(s3, where, err)).toBe(err);
    expect(destroy).toHaveBeenCalled();
  });

  test.each([
    ['another status', sdkError('NoSuchKey', 404, 'no key')],
    ['another bodyless answer', sdkError('Unknown', 403, 'UnknownError')],
    ['no answer at all', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ])('when the re-check gets %s the original error is kept', async (_what, recheck) => {
    const { s3 } = fakeS3(recheck);
    const err = bodyless403();
    expect(await diagnoseS3Error(s3, where, err)).toBe(err);
  });

  test('the re-check is bounded by a timeout', async () => {
    const { s3 } = fakeS3(
      (_command: unknown, options: { abortSignal?: AbortSignal }) =>
        new Promise((_resolve, reject) => {
          options.abortSignal?.addEventListener('abort', () =>
            reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
          );
        }),
    );
    const err = bodyless403();
    const started = Date.now();
    expect(await diagnoseS3Error(s3, where, err, { timeoutMs: 50 })).toBe(err);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test.each([
    ['an error with a body', sdkError('AccessDenied', 403, 'Access Denied'), 'GetObject'],
    ['a 5xx', sdkError('Unknown', 503, 'UnknownError'), 'HeadObject'],
    ['throttling', sdkError('Unknown', 429, 'UnknownError'), 'HeadObject'],
    ['a 404 (how a HEAD says "absent")', sdkError('NotFound', 404), 'HeadObject'],
    [
      'a network error',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'HeadObject',
    ],
    ['a string', 'boom', 'HeadObject'],
  ])('%s is returned as is, with no request', async (_what, err, operation) => {
    const { s3, send } = fakeS3(sdkError('SignatureDoesNotMatch', 403));
    expect(await diagnoseS3Error(s3, where, err, { operation })).toBe(err);
    expect(send).not.toHaveBeenCalled();
  });

  test('withDiagnosis throws the diagnosed error and passes results through', async () => {
    const { s3 } = fakeS3(sdkError('SignatureDoesNotMatch', 403, 'wrong signature'));
    await expect(withDiagnosis(s3, where, async () => 'ok')).resolves.toBe('ok');
    await expect(
      withDiagnosis(s3, where, async () => {
        throw bodyless403();
      }),
    ).rejects.toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
  });
});

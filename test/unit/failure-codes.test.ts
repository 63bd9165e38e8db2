import { ApplicationFailure } from '@temporalio/common';
import { failureCode, replicationFailure } from '../../activities/errors';
import { failureCodeOf } from '../../shared/failure-codes';

const s3Error = (code: string, status?: number) =>
  Object.assign(new Error(code), { name: code, Code: code, $metadata: { httpStatusCode: status } });
const subject = { bucket: 'photos', key: 'cat.jpg', versionId: 'v1', site: 'dr', targetBucket: 'photos-dr' };

test.each([
  ['reading the source version', s3Error('NoSuchVersion', 404), 'SOURCE_VERSION_MISSING'],
  ['reading the source version', s3Error('AccessDenied', 403), 'SOURCE_ACCESS_DENIED'],
  ['copying data', s3Error('AccessDenied', 403), 'TARGET_ACCESS_DENIED'],
  ['copying data', s3Error('NoSuchBucket', 404), 'TARGET_BUCKET_MISSING'],
  ['reading the source version', s3Error('NoSuchBucket', 404), 'SOURCE_BUCKET_MISSING'],
  ['copying data', s3Error('InvalidAccessKeyId', 403), 'INVALID_CREDENTIALS'],
  ['copying data', s3Error('BadDigest', 400), 'CHECKSUM_MISMATCH'],
  ['copying data', s3Error('SlowDown', 503), 'THROTTLED'],
  ['copying data', s3Error('InternalError', 500), 'SERVER_ERROR'],
  ['copying data', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'TARGET_UNREACHABLE'],
  [
    'reading the source version',
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    'SOURCE_UNREACHABLE',
  ],
  ['copying data', s3Error('MetadataTooLarge', 400), 'METADATA_TOO_LARGE'],
  ['copying data', s3Error('InvalidArgument', 400), 'INVALID_REQUEST'],
] as const)('%s: %p is %s', (step, err, code) => {
  expect(failureCode(step, err)).toBe(code);
});

test('every reason starts with its code and names the source object, version, site and destination bucket', () => {
  const failure = replicationFailure('copying data', subject, s3Error('NoSuchBucket', 404));
  expect(failure.message).toBe(
    '[TARGET_BUCKET_MISSING] copying data failed for s3://photos/cat.jpg version v1 to site dr (s3://photos-dr): NoSuchBucket (HTTP 404): NoSuchBucket',
  );
  expect(failure.nonRetryable).toBe(true);
  expect(failureCodeOf(failure.message)).toBe('TARGET_BUCKET_MISSING');
});

test("the engine's own failures get a code too, once", () => {
  const mismatch = ApplicationFailure.create({
    message: 'checksum mismatch for x',
    type: 'TransientChecksumMismatch',
  });
  const wrapped = replicationFailure('multipart copy', subject, mismatch);
  expect(wrapped.message).toBe('[CHECKSUM_MISMATCH] checksum mismatch for x');
  expect(wrapped.type).toBe('TransientChecksumMismatch');
  expect(replicationFailure('multipart copy', subject, wrapped).message).toBe(wrapped.message);
  expect(failureCodeOf('no code here')).toBeUndefined();
  expect(failureCodeOf('[NOT_A_CODE] x')).toBeUndefined();
});

import { z } from 'zod';

/**
 * What a journal entry may contain: S3's own limits, so that whatever passes the decoders is
 * something a real S3 site could have written. Everything else is refused with the field.
 */
export const MAX_OBJECT_SIZE = 5 * 1024 ** 4; // 5 TiB, S3's largest object
export const MAX_KEY_BYTES = 1024; // S3 object keys, UTF-8
export const MAX_BUCKET_NAME_LENGTH = 255; // 63 for AWS; Ceph's relaxed names go to 255
export const MAX_VERSION_ID_LENGTH = 1024;
export const MAX_ETAG_LENGTH = 256;
/** S3, MinIO and Ceph send one record per event; a few batch them. Far above any real use. */
export const MAX_RECORDS_PER_MESSAGE = 1000;
/** MinIO's sequencer is 16 hex digits, AWS's about 18: 64 leaves room and bounds BigInt parsing. */
export const MAX_SEQUENCER_LENGTH = 64;
/** Change-stream cluster times are uint32 seconds and increments. */
export const MAX_UINT32 = 0xffff_ffff;

export const ObjectSizeSchema = z
  .number({ error: 'must be a number of bytes' })
  .int('must be an integer number of bytes')
  .min(0, 'must not be negative')
  .max(MAX_OBJECT_SIZE, 'must be at most 5 TiB (S3 maximum object size)');

export const BucketNameSchema = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(MAX_BUCKET_NAME_LENGTH, `must be at most ${MAX_BUCKET_NAME_LENGTH} characters`)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^/\u0000-\u001f]+$/, 'must not contain "/" or control characters');

export const VersionIdSchema = z
  .string({ error: 'must be a string' })
  .max(MAX_VERSION_ID_LENGTH, `must be at most ${MAX_VERSION_ID_LENGTH} characters`);

export const EtagSchema = z
  .string({ error: 'must be a string' })
  .max(MAX_ETAG_LENGTH, `must be at most ${MAX_ETAG_LENGTH} characters`);

/** Why a (decoded) object key cannot be an S3 key, or undefined when it can. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'must not be empty';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return `is ${bytes} bytes in UTF-8, more than S3's ${MAX_KEY_BYTES}`;
  return undefined;
}

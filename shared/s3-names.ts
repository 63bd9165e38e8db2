/**
 * Small S3 facts every room uses, in one place so that they are spelled one way.
 */

/** The version id S3 gives objects written while versioning was off or suspended. */
export const NULL_VERSION_ID = 'null';

const BUCKET_ARN_PREFIX = 'arn:aws:s3:::';

/** `arn:aws:s3:::photos` → `photos`; a plain bucket name is returned as it is. */
export function bucketOfArn(arn: string): string {
  return arn.startsWith(BUCKET_ARN_PREFIX) ? arn.slice(BUCKET_ARN_PREFIX.length) : arn;
}

/** `photos` → `arn:aws:s3:::photos`. */
export function bucketArn(bucket: string): string {
  return `${BUCKET_ARN_PREFIX}${bucket}`;
}

/** An ETag without the quotes S3 puts around it. */
export function bareEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/"/g, '');
}

/** S3 ETags of single-part uploads are the content MD5; multipart ones end in -<parts>. */
export function plainMd5Etag(etag: string | undefined): string | undefined {
  const bare = bareEtag(etag);
  return bare && /^[0-9a-f]{32}$/i.test(bare) ? bare.toLowerCase() : undefined;
}

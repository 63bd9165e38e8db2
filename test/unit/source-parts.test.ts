import { resumableUpload } from '../../activities/copy-multipart';
import { sourcePartCount, SourcePartsFallbacks } from '../../activities/copy-source-parts';
import type { SourceVersion } from '../../activities/source-version';

const version = (etag: string | undefined, encryption?: string): SourceVersion => ({
  size: 1,
  etag,
  headers: {},
  tags: [],
  ...(encryption ? { encryption } : {}),
});

describe('which versions are copied in their own parts', () => {
  test('an S3 multipart ETag gives the part count', () => {
    expect(sourcePartCount(version('"0123456789abcdef0123456789ABCDEF-19"'))).toBe(19);
    expect(sourcePartCount(version('0123456789abcdef0123456789abcdef-1'))).toBe(1);
    expect(sourcePartCount(version('"0123456789abcdef0123456789abcdef-19"', 'AES256'))).toBe(19);
  });

  test('a single-part, malformed, out-of-range or SSE-KMS ETag does not', () => {
    expect(sourcePartCount(version('"0123456789abcdef0123456789abcdef"'))).toBeUndefined();
    expect(sourcePartCount(version(undefined))).toBeUndefined();
    expect(sourcePartCount(version('"0123456789abcdef-3"'))).toBeUndefined();
    expect(sourcePartCount(version('"0123456789abcdef0123456789abcdef-0"'))).toBeUndefined();
    expect(sourcePartCount(version('"0123456789abcdef0123456789abcdef-10001"'))).toBeUndefined();
    expect(sourcePartCount(version('"0123456789abcdef0123456789abcdef-3"', 'aws:kms'))).toBeUndefined();
    expect(sourcePartCount(version('"0123456789abcdef0123456789abcdef-3"', 'aws:kms:dsse'))).toBeUndefined();
  });
});

describe('source buckets sent to ranges after a failed check', () => {
  test('for a while, per site and bucket, then in parts again', () => {
    let now = 1_000;
    const fallbacks = new SourcePartsFallbacks(60_000, 10, () => now);
    expect(fallbacks.skips('a', 'photos')).toBe(false);
    fallbacks.record('a', 'photos');
    expect(fallbacks.skips('a', 'photos')).toBe(true);
    expect(fallbacks.skips('b', 'photos')).toBe(false);
    expect(fallbacks.skips('a', 'videos')).toBe(false);
    now += 59_999;
    expect(fallbacks.skips('a', 'photos')).toBe(true);
    now += 1;
    expect(fallbacks.skips('a', 'photos')).toBe(false);
  });

  test('remembers a bounded number of buckets, forgetting the oldest first', () => {
    const fallbacks = new SourcePartsFallbacks(60_000, 2, () => 0);
    fallbacks.record('a', 'one');
    fallbacks.record('a', 'two');
    fallbacks.record('a', 'three');
    expect(fallbacks.skips('a', 'one')).toBe(false);
    expect(fallbacks.skips('a', 'two')).toBe(true);
    expect(fallbacks.skips('a', 'three')).toBe(true);
  });
});

describe('which heartbeated upload an attempt resumes', () => {
  const ranges = { layout: 'ranges' as const, uploadId: 'u1', partSize: 5, parts: [] };
  const sourceParts = {
    layout: 'source-parts' as const,
    uploadId: 'u2',
    partCount: 3,
    parts: [{ PartNumber: 1, ETag: '"e"', start: 0, size: 5 }],
  };

  test('only the upload of the version being copied, in either layout', () => {
    expect(resumableUpload({ ...ranges, sourceVersionId: 'v1' }, 'v1')).toEqual({
      ...ranges,
      sourceVersionId: 'v1',
    });
    expect(resumableUpload({ ...sourceParts, sourceVersionId: 'v1' }, 'v1')?.uploadId).toBe('u2');
  });

  test("not another version's upload, one without its version, or no upload at all", () => {
    expect(resumableUpload({ ...ranges, sourceVersionId: 'v0' }, 'v1')).toBeUndefined();
    expect(resumableUpload({ ...sourceParts, sourceVersionId: 'v2' }, 'v1')).toBeUndefined();
    expect(resumableUpload(ranges, 'v1')).toBeUndefined();
    expect(resumableUpload({ sourceVersionId: 'v1' }, 'v1')).toBeUndefined();
    expect(resumableUpload(undefined, 'v1')).toBeUndefined();
  });
});

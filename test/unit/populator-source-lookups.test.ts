import type { S3Client } from '@aws-sdk/client-s3';
import { createTagsLookup, createVersioningLookup } from '../../populator/source-lookups';
import type { JournalEntry } from '../../shared/journal-entry';

const entry: JournalEntry = {
  bucket: 'photos',
  key: 'tagged/cat.jpg',
  versionId: 'v1',
  operation: 'put',
  size: 1,
  eventTime: '2026-11-24T10:00:00.000Z',
  sequence: '1',
  isReplica: false,
  format: 's3-event',
};

function s3Error(name: string, status?: number) {
  return Object.assign(new Error(`${name} message`), {
    name,
    ...(status ? { $metadata: { httpStatusCode: status } } : {}),
  });
}

type Send = (command: unknown, options?: { abortSignal?: AbortSignal }) => Promise<unknown>;
const client = (send: Send) => ({ send: jest.fn(send) }) as unknown as S3Client & { send: jest.Mock };

describe('tag lookups while planning are classified and bounded', () => {
  test('a permanent error (NoSuchVersion) answers "unknown" at once, with the reason', async () => {
    const s3 = client(async () => {
      throw s3Error('NoSuchVersion', 404);
    });
    const result = await createTagsLookup(s3, 2000)(entry);
    expect(result).toEqual({
      unknown: expect.stringMatching(
        /s3:\/\/photos\/tagged\/cat\.jpg version v1 failed: NoSuchVersion \(HTTP 404\)/,
      ),
    });
    expect(s3.send).toHaveBeenCalledTimes(1);
  });

  test('a transient error is retried a few times, then answers "unknown"', async () => {
    const s3 = client(async () => {
      throw s3Error('ServiceUnavailable', 503);
    });
    const started = Date.now();
    const result = await createTagsLookup(s3, 2000)(entry);
    expect(result).toEqual({
      unknown: expect.stringMatching(/after 3 attempt\(s\).*ServiceUnavailable.*transient/),
    });
    expect(s3.send).toHaveBeenCalledTimes(3);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('a transient error that clears is retried into the tags', async () => {
    let calls = 0;
    const s3 = client(async () => {
      if (++calls === 1) throw s3Error('SlowDown', 503);
      return { TagSet: [{ Key: 'tier', Value: 'gold' }] };
    });
    expect(await createTagsLookup(s3, 2000)(entry)).toEqual({ tags: { tier: 'gold' } });
  });

  test('a source that never answers is cut off after about retryMs', async () => {
    const s3 = client(
      (_command, options) =>
        new Promise((_, reject) =>
          options?.abortSignal?.addEventListener('abort', () => reject(s3Error('AbortError'))),
        ),
    );
    const started = Date.now();
    const result = await createTagsLookup(s3, 800)(entry);
    expect('unknown' in result).toBe(true);
    expect(Date.now() - started).toBeLessThan(2500);
  });
});

describe('bucket versioning lookups', () => {
  test('cached per bucket; concurrent asks share one request; failures read as "unknown"', async () => {
    const s3 = client(async (command) => {
      const bucket = (command as { input: { Bucket: string } }).input.Bucket;
      if (bucket === 'broken') throw s3Error('AccessDenied', 403);
      return { Status: bucket === 'versioned' ? 'Enabled' : undefined };
    });
    const lookup = createVersioningLookup(s3, 60_000);
    expect(await Promise.all([lookup('versioned'), lookup('versioned')])).toEqual(['Enabled', 'Enabled']);
    expect(await lookup('versioned')).toBe('Enabled');
    expect(await lookup('plain')).toBe('Unversioned');
    expect(await lookup('broken')).toBe('unknown');
    expect(s3.send).toHaveBeenCalledTimes(3);
  });

  test('a caller that needs a recent answer gets one (versioning suspended a moment ago)', async () => {
    let status = 'Enabled';
    const s3 = client(async () => ({ Status: status }));
    const lookup = createVersioningLookup(s3, 60_000);
    expect(await lookup('b')).toBe('Enabled');
    status = 'Suspended';
    expect(await lookup('b')).toBe('Enabled'); // cached
    await new Promise((r) => setTimeout(r, 20));
    expect(await lookup('b', 10)).toBe('Suspended');
    expect(await lookup('b')).toBe('Suspended');
    expect(s3.send).toHaveBeenCalledTimes(2);
  });
});

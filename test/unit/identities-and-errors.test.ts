import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifyError, errorCode } from '../../clients/s3-errors';
import { multipartEtag } from '../../activities/hashing-stream';
import { plainMd5Etag } from '../../shared/s3-names';
import { compareSequences } from '../../shared/replica-marker';
import { upsertProfile } from '../../config/credentials-file';
import { resolveSiteCredentials } from '../../config/credentials';
import { replicationWorkflowId, searchableKey } from '../../shared/workflow-id';
import { createHash } from 'node:crypto';

describe('workflow ids', () => {
  test('short keys keep a readable id', () => {
    expect(replicationWorkflowId('west', 'photos', 'a b/ü.jpg')).toBe('crr/west/photos/a b/ü.jpg');
  });

  test('a 1024-byte key gets a bounded, distinct, stable id', () => {
    const key = 'é'.repeat(512);
    const other = `${'é'.repeat(511)}e!`;
    const id = replicationWorkflowId('west', 'photos', key);
    // Within what Temporal's SQL schemas store (255), on a character boundary.
    expect(Buffer.byteLength(id)).toBeLessThanOrEqual(255);
    expect(id).not.toContain('\uFFFD');
    expect(id).toMatch(/^crr\/west\/photos\/é+…sha256:[0-9a-f]{32}$/);
    expect(id).toBe(replicationWorkflowId('west', 'photos', key));
    expect(id).not.toBe(replicationWorkflowId('west', 'photos', other));
    expect(id).toContain(createHash('sha256').update(key).digest('hex').slice(0, 32));
    // The longest id that needs no hash is kept whole.
    const fits = 'k'.repeat(255 - 'crr/west/photos/'.length);
    expect(replicationWorkflowId('west', 'photos', fits)).toBe(`crr/west/photos/${fits}`);
    expect(replicationWorkflowId('west', 'photos', `${fits}k`)).toMatch(/…sha256:/);
  });
});

test('CrrKey holds keys up to 255 bytes whole, and the head of longer ones', () => {
  expect(searchableKey('a b/ü.jpg')).toBe('a b/ü.jpg');
  const long = 'é'.repeat(512);
  const value = searchableKey(long);
  expect(Buffer.byteLength(value)).toBeLessThanOrEqual(255);
  expect(long.startsWith(value)).toBe(true);
  expect(value).not.toContain('\uFFFD');
});

describe('error classification', () => {
  const s3Error = (name: string, status?: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  test.each([
    [s3Error('NoSuchVersion', 404), 'permanent'],
    [s3Error('AccessDenied', 403), 'permanent'],
    [s3Error('Unknown', 403), 'permanent'],
    [s3Error('SlowDown', 503), 'transient'],
    [s3Error('InternalError', 500), 'transient'],
    [s3Error('BadDigest', 400), 'transient'],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'transient'],
  ])('%p is %s', (err, kind) => {
    expect(classifyError(err)).toBe(kind);
  });

  test('a bodyless 403 is named AccessDenied', () => {
    expect(errorCode(s3Error('Unknown', 403))).toBe('AccessDenied');
  });
});

describe('integrity and ordering helpers', () => {
  test('multipart ETag is the MD5 of part MD5s with the part count', () => {
    const parts = ['a', 'b'].map((p) => createHash('md5').update(p).digest());
    expect(multipartEtag(parts)).toBe(`${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-2`);
    expect(plainMd5Etag('"9B2CF535F27731C974343645A3985328"')).toBe('9b2cf535f27731c974343645a3985328');
    expect(plainMd5Etag('"abc-2"')).toBeUndefined();
  });

  test('sequences compare as integers, beyond 2^64', () => {
    expect(compareSequences('18446744073709551617', '18446744073709551616')).toBe(1);
    expect(compareSequences('9', '10')).toBe(-1);
    expect(compareSequences('7', '7')).toBe(0);
  });
});

describe('credentials', () => {
  test('profiles are upserted without losing others and resolved from the shared file', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crr-cred-')), 'credentials');
    upsertProfile(file, 'one', { accessKeyId: 'AK1', secretAccessKey: 'S1' });
    upsertProfile(file, 'two', { accessKeyId: 'AK2', secretAccessKey: 'S2' });
    upsertProfile(file, 'one', { accessKeyId: 'AK1b', secretAccessKey: 'S1b' });
    const text = fs.readFileSync(file, 'utf8');
    expect(text.match(/\[one\]/g)).toHaveLength(1);
    expect(text).toContain('AK2');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const creds = await resolveSiteCredentials(
      { profile: 'one' },
      { AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: `${file}.none` },
    )();
    expect(creds).toMatchObject({ accessKeyId: 'AK1b', secretAccessKey: 'S1b' });
  });
});

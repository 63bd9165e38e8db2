import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { doesIdentityRequireRefresh, isIdentityExpired, memoizeIdentityProvider } from '@smithy/core';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { upsertProfile } from '../../config/credentials-file';
import { fromIniReloading, resolveSiteCredentials, type CredentialReadEvent } from '../../config/credentials';

const A = { accessKeyId: 'AKIDFIRST', secretAccessKey: 'first-secret' };
const B = { accessKeyId: 'AKIDSECONDKEY', secretAccessKey: 'second-secret-longer' };

/** A credentials file written long enough ago that its timestamp is trusted, and a fake clock. */
function setup(keys = A, statIntervalMs = 1_000) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-cred-reload-'));
  const credentialsFile = path.join(dir, 'credentials');
  upsertProfile(credentialsFile, 'site', keys);
  age(credentialsFile);
  let clock = Date.now();
  const reads: CredentialReadEvent[] = [];
  const provider = fromIniReloading({
    profile: 'site',
    credentialsFile,
    configFile: path.join(dir, 'config'), // absent: stamped as missing
    statIntervalMs,
    now: () => clock,
    onRead: (e) => reads.push(e),
  });
  return {
    credentialsFile,
    provider,
    reads,
    now: () => clock,
    advance: (ms: number) => {
      clock += ms;
    },
    rewrite: (keys: typeof A) => {
      upsertProfile(credentialsFile, 'site', keys);
      age(credentialsFile);
    },
  };
}

/** Moves a file's mtime a minute back, so the provider does not treat it as still being written. */
function age(file: string): void {
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(file, past, past);
}

afterEach(() => jest.restoreAllMocks());

describe('credential files re-read when they change', () => {
  test('a changed file gives the new keys at the next stat', async () => {
    const t = setup();
    expect(await t.provider()).toMatchObject(A);
    t.rewrite(B);
    t.advance(1_000);
    expect(await t.provider()).toMatchObject(B);
    expect(t.reads.map((r) => r.reason)).toEqual(['first', 'changed']);
    expect(t.reads.every((r) => r.ok)).toBe(true);
  });

  test('an unchanged file is not read again', async () => {
    const t = setup();
    await t.provider();
    for (let i = 0; i < 10; i++) {
      t.advance(1_500);
      expect(await t.provider()).toMatchObject(A);
    }
    expect(t.reads.map((r) => r.reason)).toEqual(['first']);
  });

  test('the files are stat-ed at most once per interval', async () => {
    const t = setup();
    const stat = jest.spyOn(fs.promises, 'stat');
    await t.provider();
    expect(stat).toHaveBeenCalledTimes(2); // credentials and config file
    t.rewrite(B);
    for (let i = 0; i < 20; i++) {
      t.advance(40);
      expect(await t.provider()).toMatchObject(A); // within the interval: cached, not even stat-ed
    }
    expect(stat).toHaveBeenCalledTimes(2);
    t.advance(200);
    expect(await t.provider()).toMatchObject(B);
    expect(stat).toHaveBeenCalledTimes(4);
    await Promise.all(Array.from({ length: 50 }, () => t.provider()));
    expect(stat).toHaveBeenCalledTimes(4);
  });

  test('concurrent calls share one stat and one read', async () => {
    const t = setup();
    const stat = jest.spyOn(fs.promises, 'stat');
    const all = await Promise.all(Array.from({ length: 20 }, () => t.provider()));
    expect(all.every((c) => c.accessKeyId === A.accessKeyId)).toBe(true);
    expect(stat).toHaveBeenCalledTimes(2);
    expect(t.reads).toHaveLength(1);
  });

  test('a file modified less than a second before it was read is read once more', async () => {
    const t = setup();
    // As if just written: stamped with the fake clock's time (the real clock may be a few ms
    // ahead of it, which would keep the file "recent" one second longer).
    fs.utimesSync(t.credentialsFile, new Date(t.now()), new Date(t.now()));
    await t.provider();
    t.advance(1_000);
    await t.provider();
    t.advance(1_000);
    await t.provider();
    expect(t.reads.map((r) => r.reason)).toEqual(['first', 'recent']);
  });

  test('a profile missing from the file fails, is retried once per interval, and works once added', async () => {
    const t = setup();
    fs.writeFileSync(
      t.credentialsFile,
      '[other]\naws_access_key_id = X\naws_secret_access_key = S3CR3TVALUE\n',
    );
    age(t.credentialsFile);
    const failure = await t.provider().catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(String(failure)).not.toContain('S3CR3TVALUE');
    await expect(t.provider()).rejects.toThrow(); // same interval: not read again
    expect(t.reads).toHaveLength(1);
    t.advance(1_000);
    await expect(t.provider()).rejects.toThrow();
    expect(t.reads.map((r) => [r.reason, r.ok])).toEqual([
      ['first', false],
      ['retry', false],
    ]);
    t.rewrite(A);
    t.advance(1_000);
    expect(await t.provider()).toMatchObject(A);
  });

  test('keys come with an expiration a few seconds ahead, so the S3 client asks again', async () => {
    const t = setup();
    const first = await t.provider();
    expect(first.expiration).toBeInstanceOf(Date);
    expect(first.expiration!.getTime() - Date.now()).toBeLessThanOrEqual(10_000);
    // The memoization every S3 client applies to its credentials provider.
    const memoized = memoizeIdentityProvider(
      t.provider as AwsCredentialIdentityProvider,
      isIdentityExpired,
      doesIdentityRequireRefresh,
    )!;
    expect(await memoized({})).toMatchObject(A);
    t.rewrite(B);
    t.advance(1_000);
    expect(await memoized({})).toMatchObject(B);
  });

  test('resolveSiteCredentials reads the profile from AWS_SHARED_CREDENTIALS_FILE and re-reads it', async () => {
    const t = setup();
    const provider = resolveSiteCredentials(
      { profile: 'site' },
      { AWS_SHARED_CREDENTIALS_FILE: t.credentialsFile, AWS_CONFIG_FILE: `${t.credentialsFile}.none` },
      { statIntervalMs: 0 },
    );
    expect(await provider()).toMatchObject(A);
    t.rewrite(B);
    expect(await provider()).toMatchObject(B);
  });
});

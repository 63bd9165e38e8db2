import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromEnv, fromIni } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

interface CredentialSource {
  profile?: string;
}

/** How often, at most, the credential files are stat'ed (per provider). */
export const CREDENTIAL_FILE_STAT_INTERVAL_MS = 1_000;

/**
 * The S3 client memoizes credentials and asks its provider again only when they expire within
 * five minutes (@smithy/core's memoizeIdentityProvider). Profile credentials are returned with
 * an expiration this far ahead, so the client asks on every request and the provider (which
 * answers from its cache until a file changes) decides.
 */
export const RECHECK_EXPIRATION_MS = 5_000;

// The SDK's own refresh margin: temporary credentials (assume-role, SSO, process profiles)
// are fetched again when they expire within it, as the SDK would do.
const TEMPORARY_REFRESH_MARGIN_MS = 300_000;

/** A profile from the shared credentials file, or the environment when the site names none. */
export function resolveSiteCredentials(
  site: CredentialSource,
  env: NodeJS.ProcessEnv = process.env,
  options: Omit<ReloadingProfileOptions, 'profile' | 'credentialsFile' | 'configFile'> = {},
): AwsCredentialIdentityProvider {
  if (site.profile) {
    return fromIniReloading({
      ...options,
      profile: site.profile,
      credentialsFile: sharedCredentialsFile(env),
      configFile: sharedConfigFile(env),
    });
  }
  return fromEnv();
}

/** Where a site's credentials come from, without the secrets. */
export function describeCredentialSource(
  site: CredentialSource,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (site.profile)
    return `profile "${site.profile}" in ${env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'}`;
  return 'environment (AWS_ACCESS_KEY_ID)';
}

function expandHome(file: string): string {
  return file.startsWith('~/') ? path.join(os.homedir(), file.slice(2)) : file;
}

export function sharedCredentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return expandHome(env.AWS_SHARED_CREDENTIALS_FILE || '~/.aws/credentials');
}

export function sharedConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return expandHome(env.AWS_CONFIG_FILE || '~/.aws/config');
}

export interface ReloadingProfileOptions {
  profile: string;
  /** The shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials). */
  credentialsFile: string;
  /** The shared config file (AWS_CONFIG_FILE or ~/.aws/config); profiles may live there too. */
  configFile: string;
  /** Minimum time between two stats of the files (default 1 s). */
  statIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Called after each read of the profile, with the reason (never with the keys). */
  onRead?: (event: CredentialReadEvent) => void;
}

export interface CredentialReadEvent {
  profile: string;
  files: string[];
  /**
   * first read; a file changed; read again because a file had changed less than a second
   * before the previous read (a second write within the same timestamp tick would not show);
   * a failed read retried; temporary credentials close to their expiration.
   */
  reason: 'first' | 'changed' | 'recent' | 'retry' | 'expiring';
  ok: boolean;
}

/** What identifies a file's content without reading it; "missing" when it does not exist. */
interface FileStamp {
  key: string;
  mtimeMs: number;
}

async function stampOf(file: string): Promise<FileStamp> {
  try {
    const s = await fs.promises.stat(file, { bigint: true });
    return {
      key: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`,
      mtimeMs: Number(s.mtimeMs),
    };
  } catch (err) {
    return { key: `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`, mtimeMs: 0 };
  }
}

type Loaded = { ok: true; credentials: AwsCredentialIdentity } | { ok: false; error: unknown };

/**
 * A profile's credentials, read again whenever the credentials or config file changes (device,
 * inode, size, mtime or ctime), so fixing the file takes effect without a restart. The files
 * are stat'ed at most once per `statIntervalMs`; between changes the cached credentials are
 * returned without touching the disk. Credentials are returned with an expiration a few
 * seconds ahead (see RECHECK_EXPIRATION_MS) so that the S3 client keeps asking; temporary
 * credentials (assume-role, SSO, process profiles) are also fetched again within five minutes
 * of their own expiration, as the SDK does.
 */
export function fromIniReloading(options: ReloadingProfileOptions): AwsCredentialIdentityProvider {
  const files = [options.credentialsFile, options.configFile];
  const statIntervalMs = options.statIntervalMs ?? CREDENTIAL_FILE_STAT_INTERVAL_MS;
  const now = options.now ?? Date.now;
  // ignoreCache: the SDK keeps every file it read in a process-wide cache otherwise.
  const readProfile = fromIni({
    profile: options.profile,
    filepath: options.credentialsFile,
    configFilepath: options.configFile,
    ignoreCache: true,
  });

  let stamps: string | undefined;
  let loaded: Loaded | undefined;
  let lastStatAt = -Infinity;
  // A file modified within the last second may be written again within the same timestamp
  // tick (same size, same mtime): such a stamp is not trusted, and the next stat re-reads.
  let racy = false;
  let inFlight: Promise<AwsCredentialIdentity> | undefined;

  const expiresSoon = (c: AwsCredentialIdentity) =>
    c.expiration !== undefined && c.expiration.getTime() - now() < TEMPORARY_REFRESH_MARGIN_MS;

  async function refresh(callerOptions: Parameters<AwsCredentialIdentityProvider>[0]) {
    if (loaded === undefined || now() - lastStatAt >= statIntervalMs) {
      lastStatAt = now();
      const current = await Promise.all(files.map(stampOf));
      const key = current.map((s) => s.key).join('|');
      // A failure is retried at most once per stat interval, even when no file changed.
      const reason: CredentialReadEvent['reason'] | undefined =
        loaded === undefined
          ? 'first'
          : key !== stamps
            ? 'changed'
            : racy
              ? 'recent'
              : !loaded.ok
                ? 'retry'
                : expiresSoon(loaded.credentials)
                  ? 'expiring'
                  : undefined;
      if (reason) {
        stamps = key;
        racy = current.some((s) => s.mtimeMs > 0 && now() - s.mtimeMs < 1_000);
        try {
          loaded = { ok: true, credentials: await readProfile(callerOptions) };
        } catch (error) {
          loaded = { ok: false, error };
        }
        options.onRead?.({ profile: options.profile, files, reason, ok: loaded.ok });
      }
    }
    const result = loaded as Loaded;
    if (!result.ok) throw result.error;
    return result.credentials;
  }

  return async (callerOptions) => {
    // Concurrent requests share one stat and one read.
    inFlight ??= refresh(callerOptions).finally(() => {
      inFlight = undefined;
    });
    const credentials = await inFlight;
    const recheckAt = now() + RECHECK_EXPIRATION_MS;
    const expiration = Math.min(credentials.expiration?.getTime() ?? Infinity, recheckAt);
    return { ...credentials, expiration: new Date(expiration) };
  };
}

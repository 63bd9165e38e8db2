/**
 * Where the secrets and certificates of the secure connections come from (docs/SECURITY.md):
 * files named in the config, or the environment; never the config itself. A file is read
 * again when it changes (its device, inode, size, mtime or ctime; stat'ed at most once a
 * second), so a rotated password, API key, CA bundle or client certificate is used by the
 * next connection (or request) without a restart. Contents never appear in errors or logs:
 * only the field and the path do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineConfig } from './engine-config';

/** How often, at most, a watched file is stat'ed. */
export const SECRET_FILE_STAT_INTERVAL_MS = 1_000;

export class SecretFileError extends Error {}

export interface WatchedFileOptions {
  statIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** A file read again when it changes. Synchronous: TLS and SASL callbacks cannot wait. */
export interface WatchedFile {
  /** The config field (or variable) that named the file, e.g. `kafka.sasl.passwordFile`. */
  readonly field: string;
  readonly file: string;
  /** The current content. Throws (naming field and path) when the file was never readable. */
  read(): Buffer;
  /** Goes up each time the content changed; reading it checks the file (at most once a second). */
  version(): number;
}

export function expandPath(file: string): string {
  return path.resolve(file.startsWith('~/') ? path.join(os.homedir(), file.slice(2)) : file);
}

function stampOf(file: string): string {
  const s = fs.statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/**
 * A file's content, kept in memory and read again when the file changed. A file that
 * disappears or is empty for a moment (a rotation that is not an atomic rename) keeps the
 * last good content until it is back; a file that was never readable is an error naming the
 * field and the path. A file modified less than a second before it was read is checked again
 * at the next stat even if its stamp did not change (a second write within one timestamp tick).
 */
export function watchedFile(field: string, file: string, options: WatchedFileOptions = {}): WatchedFile {
  const resolved = expandPath(file);
  const statIntervalMs = options.statIntervalMs ?? SECRET_FILE_STAT_INTERVAL_MS;
  const now = options.now ?? Date.now;
  let content: Buffer | undefined;
  let stamp: string | undefined;
  let lastError: string | undefined;
  let lastStatAt = -Infinity;
  let racy = false;
  let version = 0;

  const refresh = () => {
    if (content !== undefined && now() - lastStatAt < statIntervalMs) return;
    lastStatAt = now();
    try {
      const current = stampOf(resolved);
      if (current === stamp && !racy && content !== undefined) return;
      const read = fs.readFileSync(resolved);
      racy = now() - fs.statSync(resolved).mtimeMs < 1_000;
      if (read.length === 0) throw Object.assign(new Error('the file is empty'), { code: 'EMPTY' });
      stamp = current;
      if (content === undefined || !read.equals(content)) {
        content = read;
        version += 1;
      }
      lastError = undefined;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      lastError = e.code === 'EMPTY' ? 'the file is empty' : (e.code ?? e.message);
    }
  };

  return {
    field,
    file: resolved,
    read() {
      refresh();
      if (content === undefined)
        throw new SecretFileError(`${field}: cannot read ${resolved} (${lastError ?? 'unknown error'})`);
      return content;
    },
    version() {
      refresh();
      return version;
    },
  };
}

/** A secret value (password, API key): from a watched file, or fixed by the environment. */
export interface SecretSource {
  /** Where it comes from, for messages: `file /etc/crr/kafka-password (kafka.sasl.passwordFile)`. */
  readonly description: string;
  /** The current value, without the file's trailing newline. */
  read(): string;
  /** Goes up when the value changed (always 1 for the environment). */
  version(): number;
}

function fileSecret(field: string, file: string, options?: WatchedFileOptions): SecretSource {
  const watched = watchedFile(field, file, options);
  let cachedVersion = -1;
  let value = '';
  return {
    description: `file ${watched.file} (${field})`,
    read() {
      const raw = watched.read();
      const v = watched.version();
      if (v !== cachedVersion) {
        value = raw.toString('utf8').replace(/[\r\n]+$/, '');
        cachedVersion = v;
      }
      if (value.length === 0) throw new SecretFileError(`${field}: ${watched.file} holds no value`);
      return value;
    },
    version: () => watched.version(),
  };
}

function envSecret(variable: string, value: string): SecretSource {
  return { description: `environment ${variable}`, read: () => value, version: () => 1 };
}

/**
 * A secret from, in order: the variable `<envName>` (the value itself), `<envName>_FILE` (a
 * file), the config field (a file). Undefined when none is set.
 */
export function secretSource(
  envName: string,
  field: string,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  options?: WatchedFileOptions,
): SecretSource | undefined {
  const inline = env[envName]?.trim();
  if (inline) return envSecret(envName, inline);
  const fromEnvFile = env[`${envName}_FILE`];
  if (fromEnvFile) return fileSecret(`${envName}_FILE`, fromEnvFile, options);
  if (configFile) return fileSecret(field, configFile, options);
  return undefined;
}

export const TEMPORAL_API_KEY_ENV = 'CRR_TEMPORAL_API_KEY';
export const KAFKA_SASL_PASSWORD_ENV = 'CRR_KAFKA_SASL_PASSWORD';

/** The Temporal API key, when one is configured (CRR_TEMPORAL_API_KEY[_FILE], temporal.apiKeyFile). */
export function temporalApiKeySource(
  temporal: EngineConfig['temporal'],
  env: NodeJS.ProcessEnv = process.env,
  options?: WatchedFileOptions,
): SecretSource | undefined {
  return secretSource(TEMPORAL_API_KEY_ENV, 'temporal.apiKeyFile', temporal.apiKeyFile, env, options);
}

/** The Kafka SASL password (CRR_KAFKA_SASL_PASSWORD[_FILE], kafka.sasl.passwordFile); throws when SASL has none. */
export function kafkaSaslPasswordSource(
  kafka: EngineConfig['kafka'],
  env: NodeJS.ProcessEnv = process.env,
  options?: WatchedFileOptions,
): SecretSource | undefined {
  if (!kafka.sasl) return undefined;
  const source = secretSource(
    KAFKA_SASL_PASSWORD_ENV,
    'kafka.sasl.passwordFile',
    kafka.sasl.passwordFile,
    env,
    options,
  );
  if (!source)
    throw new SecretFileError(
      `kafka.sasl: no password for user "${kafka.sasl.username}": set kafka.sasl.passwordFile, ${KAFKA_SASL_PASSWORD_ENV}_FILE or ${KAFKA_SASL_PASSWORD_ENV}`,
    );
  return source;
}

/** The watched files of a `tls` section (`kafka.tls`, `temporal.tls`). */
export interface TlsFiles {
  ca?: WatchedFile;
  cert?: WatchedFile;
  key?: WatchedFile;
}

export function tlsFiles(
  section: string,
  tls: { caFile?: string; certFile?: string; keyFile?: string },
  options?: WatchedFileOptions,
): TlsFiles {
  const watch = (name: string, file: string | undefined) =>
    file === undefined ? undefined : watchedFile(`${section}.${name}`, file, options);
  return {
    ca: watch('caFile', tls.caFile),
    cert: watch('certFile', tls.certFile),
    key: watch('keyFile', tls.keyFile),
  };
}

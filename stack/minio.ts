import https from 'node:https';
import path from 'node:path';
import { MINIO_JOURNAL_TARGET_ID, MINIO_UNQUEUED_JOURNAL_TARGET_ID } from '../shared/topics';
import { minioBinary } from './binaries';
import { ManagedProcess, waitUntilReady } from './managed-process';
import { preferredOrFreePort } from './ports';

/** An S3 site the engine reads from or writes to. Credentials stay out of logs. */
export interface S3SiteEndpoint {
  name: string;
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  consoleUrl?: string;
}

export interface StartMinioOptions {
  name: string;
  dataDir: string;
  logDir: string;
  port?: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, the site publishes bucket notifications to this Kafka journal topic. */
  journal?: { brokers: string[]; topic: string };
  /**
   * Serves HTTPS with the certificate of this folder (MinIO's `--certs-dir`: `public.crt` and
   * `private.key`, PEM); `ca` is the PEM bundle the readiness check trusts. Default: HTTP.
   */
  tls?: { certsDir: string; ca: string | Buffer };
  log: (line: string) => void;
}

/** One MinIO server (a site) with its own port, data folder and credentials. */
export async function startMinio(
  options: StartMinioOptions,
): Promise<{ site: S3SiteEndpoint; process: ManagedProcess }> {
  const binary = minioBinary(options.log);
  const port = await preferredOrFreePort(options.port);
  const consolePort = await preferredOrFreePort(options.port === undefined ? undefined : options.port + 1);
  const id = MINIO_JOURNAL_TARGET_ID;
  const now = MINIO_UNQUEUED_JOURNAL_TARGET_ID;
  const notifyEnv: NodeJS.ProcessEnv = options.journal
    ? {
        [`MINIO_NOTIFY_KAFKA_ENABLE_${id}`]: 'on',
        [`MINIO_NOTIFY_KAFKA_BROKERS_${id}`]: options.journal.brokers.join(','),
        [`MINIO_NOTIFY_KAFKA_TOPIC_${id}`]: options.journal.topic,
        // Events wait on disk while the broker is down instead of being dropped.
        [`MINIO_NOTIFY_KAFKA_QUEUE_DIR_${id}`]: path.join(options.dataDir, `${options.name}-events`),
        [`MINIO_NOTIFY_KAFKA_QUEUE_LIMIT_${id}`]: '100000',
        [`MINIO_NOTIFY_KAFKA_ENABLE_${now}`]: 'on',
        [`MINIO_NOTIFY_KAFKA_BROKERS_${now}`]: options.journal.brokers.join(','),
        [`MINIO_NOTIFY_KAFKA_TOPIC_${now}`]: options.journal.topic,
      }
    : {};
  const proc = new ManagedProcess({
    name: `minio-${options.name}`,
    command: binary,
    args: [
      'server',
      path.join(options.dataDir, `${options.name}-data`),
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      '--quiet',
      ...(options.tls ? ['--certs-dir', options.tls.certsDir] : []),
    ],
    env: {
      MINIO_ROOT_USER: options.accessKeyId,
      MINIO_ROOT_PASSWORD: options.secretAccessKey,
      MINIO_UPDATE: 'off',
      MINIO_CI_CD: '1',
      ...notifyEnv,
    },
    logFile: path.join(options.logDir, `minio-${options.name}.log`),
  });
  const scheme = options.tls ? 'https' : 'http';
  const site: S3SiteEndpoint = {
    name: options.name,
    endpoint: `${scheme}://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId: options.accessKeyId,
    secretAccessKey: options.secretAccessKey,
    consoleUrl: `${scheme}://127.0.0.1:${consolePort}`,
  };
  await waitForS3Site(site.endpoint, 60_000, proc, options.tls?.ca);
  return { site, process: proc };
}

/** GET over HTTPS trusting `ca` only (fetch cannot be given a CA); resolves with the status. */
function httpsStatus(url: string, ca: string | Buffer, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** MinIO's readiness route; other S3 servers answer an anonymous GET / with any HTTP status. */
export async function waitForS3Site(
  endpoint: string,
  timeoutMs: number,
  proc?: ManagedProcess,
  /** The CA bundle of an https:// endpoint whose certificate the system does not trust. */
  ca?: string | Buffer,
): Promise<void> {
  await waitUntilReady(
    proc,
    `S3 site at ${endpoint}`,
    async () => {
      const status = ca
        ? await httpsStatus(`${endpoint}/minio/health/ready`, ca, 2_000)
        : (await fetch(`${endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(2_000) })).status;
      return status === 200 || (proc === undefined && status > 0);
    },
    timeoutMs,
  );
}

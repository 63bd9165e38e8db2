import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { resolveSiteCredentials } from '../config/credentials';
import type { EngineConfig, SiteConfig } from '../config/engine-config';
import { trimRequestPipeline } from './s3-request-pipeline';
import { caBundleAgent, nameTlsFailures } from './s3-tls';

export interface S3SiteConnection {
  endpoint: string;
  region: string;
  forcePathStyle: boolean;
  credentials: AwsCredentialIdentityProvider | { accessKeyId: string; secretAccessKey: string };
  /** PEM bundle of the CAs trusted for an https:// endpoint (default: the system's); re-read when it changes. */
  caFile?: string;
  /** The site's name in the config, for error messages (TLS failures name it). */
  name?: string;
}

/**
 * The socket pool of the worker's site clients: unbounded. A write is signed for
 * WRITE_TTL_SECONDS (s3-expiring-writes.ts) before it is handed to the pool; one that waited
 * there for a socket, behind long part uploads and streaming copies, would reach the target
 * expired and be refused, attempt after attempt. The worker's activity and local-activity
 * slots already bound how many requests run at once.
 */
export const WORKER_MAX_SOCKETS = Infinity;

/**
 * The S3 clients of the engine: one per site, each with a keep-alive socket pool sized for the
 * process's concurrency. Retries are Temporal's (or the populator's), never the SDK's.
 */
export function createS3Client(
  site: S3SiteConnection,
  maxSockets = 64,
  /** 'sdk-default' keeps every middleware of the SDK (for the A/B of `bench:sdk-request` and `bench:activity`). */
  pipeline: 'trimmed' | 'sdk-default' = 'trimmed',
): S3Client {
  // The SDK's notice that releases after January 2027 need Node 22 was printed on every CLI
  // command; it is about the SDK's future, not this run (docs/DEVELOPMENT.md says which Node
  // to use). Only that one notice is silenced, and only when the user did not decide.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const agentOptions = { keepAlive: true, maxSockets, keepAliveMsecs: 10_000 };
  const client = new S3Client({
    endpoint: site.endpoint,
    region: site.region,
    forcePathStyle: site.forcePathStyle,
    credentials: site.credentials,
    // The engine verifies integrity itself (Content-MD5 and ETags); the SDK's default CRC32
    // trailers would force chunked uploads that some S3-compatible servers refuse.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1, // Temporal owns retries, with backoff and visibility.
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent(agentOptions),
      // A site's CA bundle is read at each new connection (so a changed file is used without
      // a restart); certificate verification is never turned off.
      httpsAgent: site.caFile
        ? caBundleAgent(site.caFile, site.name ? `sites.${site.name}.caFile` : 'caFile', agentOptions)
        : new https.Agent(agentOptions),
      connectionTimeout: 5_000,
      // An idle socket (a frozen or black-holed site) fails the request after 2 minutes. The
      // SDK's `requestTimeout` is a total-time limit that only logs a warning by default, and
      // a total limit would cut a long streaming copy that is still moving.
      socketTimeout: 120_000,
    }),
  });
  nameTlsFailures(client, site);
  if (pipeline === 'trimmed') trimRequestPipeline(client);
  return client;
}

/** The S3 clients of every site the worker talks to, by site name. */
export type SiteClients = ReadonlyMap<string, S3Client>;

export function clientFor(clients: SiteClients, site: string): S3Client {
  const client = clients.get(site);
  if (!client) throw new Error(`no S3 client for site "${site}": is it in the config's sites?`);
  return client;
}

/** Where credential reloads are reported (a pino logger fits); never given the keys. */
export interface CredentialReloadLogger {
  info(fields: Record<string, unknown>, message: string): void;
}

/**
 * The S3 client of one site, credentials resolved from its profile or the environment.
 * Profile credentials are read again when the credentials or config file changes (checked at
 * most once a second), so a fixed file takes effect without a restart and without recreating
 * the client.
 */
export function createSiteClient(
  name: string,
  site: SiteConfig,
  maxSockets = 64,
  logger?: CredentialReloadLogger,
): S3Client {
  return createS3Client(
    {
      endpoint: site.endpoint,
      region: site.region,
      forcePathStyle: site.forcePathStyle,
      caFile: site.caFile,
      name,
      credentials: resolveSiteCredentials(site, process.env, {
        onRead: ({ profile, files, reason, ok }) => {
          if (reason === 'changed')
            logger?.info({ site: name, profile, files, ok }, 'credential files changed: profile read again');
        },
      }),
    },
    maxSockets,
  );
}

/** An S3 client for every configured site (see createSiteClient). */
export function createSiteClients(
  config: EngineConfig,
  maxSockets = 64,
  logger?: CredentialReloadLogger,
): Map<string, S3Client> {
  return new Map(
    Object.entries(config.sites).map(([name, site]) => [
      name,
      createSiteClient(name, site, maxSockets, logger),
    ]),
  );
}

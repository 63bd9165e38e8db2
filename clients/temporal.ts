/**
 * Every connection to the Temporal server is made here, from the config's `temporal`
 * section: the CLI's and the populator's clients and the worker's native connection, with
 * the section's TLS (server CA, client certificate for mutual TLS, server name) and API key
 * (docs/SECURITY.md).
 *
 * What a running process takes over without a restart: the API key (the clients read it at
 * each call; the worker's native connection is given a changed key within a few seconds).
 * TLS files are read when the connection is made: a new CA or client certificate takes
 * effect at the next start of the process.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Client, Connection, type ConnectionOptions, type TLSConfig } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { EngineConfig } from '../config/engine-config';
import { temporalApiKeySource, tlsFiles, type SecretSource } from '../config/secret-files';

type TemporalSettings = EngineConfig['temporal'];

export interface TemporalClient {
  client: Client;
  close(): Promise<void>;
}

/** Where API key changes are reported (a pino logger fits); never given the key. */
export interface TemporalConnectionLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** How often the worker's native connection checks the API key file (it cannot read it per call). */
export const NATIVE_API_KEY_CHECK_MS = 2_000;

/**
 * The TLS settings of the connection: undefined for plaintext (no `tls` section and no API
 * key), `{}` for TLS with the system's CAs. The files are read now.
 */
export function temporalTlsConfig(
  temporal: TemporalSettings,
  apiKey: SecretSource | undefined,
): TLSConfig | undefined {
  if (!temporal.tls) return apiKey ? {} : undefined;
  const files = tlsFiles('temporal.tls', temporal.tls);
  return {
    ...(temporal.tls.serverName ? { serverNameOverride: temporal.tls.serverName } : {}),
    ...(files.ca ? { serverRootCACertificate: files.ca.read() } : {}),
    ...(files.cert && files.key ? { clientCertPair: { crt: files.cert.read(), key: files.key.read() } } : {}),
  };
}

/** The options of a client connection (@temporalio/client), for tests and the factories below. */
export function connectionOptions(
  temporal: TemporalSettings,
  env: NodeJS.ProcessEnv = process.env,
): ConnectionOptions {
  const apiKey = temporalApiKeySource(temporal, env);
  const tls = temporalTlsConfig(temporal, apiKey);
  return {
    address: temporal.address,
    connectTimeout: 5_000,
    ...(tls ? { tls } : {}),
    // Read at each call: a rotated key file is used by the next request.
    ...(apiKey ? { apiKey: () => apiKey.read() } : {}),
  };
}

/** The options of the worker's native connection (@temporalio/worker), for tests and connectWorkerConnection. */
export function nativeConnectionOptions(
  temporal: TemporalSettings,
  env: NodeJS.ProcessEnv = process.env,
): NativeConnectionOptions & { apiKeySource?: SecretSource } {
  const apiKey = temporalApiKeySource(temporal, env);
  const tls = temporalTlsConfig(temporal, apiKey);
  return {
    address: temporal.address,
    ...(tls ? { tls } : {}),
    ...(apiKey ? { apiKey: apiKey.read(), apiKeySource: apiKey } : {}),
  };
}

/**
 * What went wrong in a TLS handshake with the frontend, found with one handshake of our own
 * (the gRPC libraries only say "failed to connect"); undefined when the handshake succeeds.
 */
export async function probeTemporalTls(
  temporal: TemporalSettings,
  timeoutMs = 3_000,
): Promise<string | undefined> {
  const [host, portText] = splitAddress(temporal.address);
  const files = temporal.tls ? tlsFiles('temporal.tls', temporal.tls) : {};
  const serverName = temporal.tls?.serverName ?? (net.isIP(host) ? undefined : host);
  let options: tls.ConnectionOptions;
  try {
    options = {
      host,
      port: Number(portText),
      ALPNProtocols: ['h2'],
      ...(serverName ? { servername: serverName } : {}),
      ...(files.ca ? { ca: files.ca.read() } : {}),
      ...(files.cert && files.key ? { cert: files.cert.read(), key: files.key.read() } : {}),
    };
  } catch (err) {
    return (err as Error).message;
  }
  const outcome = await new Promise<Error | undefined>((resolve) => {
    const socket = tls.connect(options);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done(), timeoutMs);
    socket.once('error', (err) => done(err));
    // With TLS 1.3 the server refuses a client certificate after the client's handshake ended.
    socket.once('secureConnect', () => setTimeout(() => done(), 300));
  });
  if (!outcome) return undefined;
  // OpenSSL's "80CC…:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:…" → its reason.
  outcome.message = /:SSL routines:[^:]*:([^:]+):/.exec(outcome.message)?.[1] ?? outcome.message.trim();
  const code = (outcome as NodeJS.ErrnoException).code;
  const ca = temporal.tls?.caFile
    ? `a CA of temporal.tls.caFile ${temporal.tls.caFile}`
    : 'a CA the system trusts';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the server certificate does not name ${serverName ?? host}: set temporal.tls.serverName to a name it has (${outcome.message})`;
  if (/alert (bad certificate|certificate required|unknown ca|certificate unknown)/i.test(outcome.message))
    return temporal.tls?.certFile
      ? `the server refused the client certificate temporal.tls.certFile ${temporal.tls.certFile} (${outcome.message})`
      : `the server requires a client certificate: set temporal.tls.certFile and keyFile (${outcome.message})`;
  if (/certificate|self[- ]signed|unable to (verify|get)/i.test(outcome.message))
    return `the server certificate is not signed by ${ca} (${outcome.message})`;
  return outcome.message;
}

function splitAddress(address: string): [string, string] {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(address);
  if (bracketed) return [bracketed[1]!, bracketed[2]!];
  const i = address.lastIndexOf(':');
  return i < 0 ? [address, '7233'] : [address.slice(0, i), address.slice(i + 1)];
}

interface GrpcCause {
  code?: number;
  details?: string;
}

/** What a connection failure means, naming the address, and the TLS or API-key problem when there is one. */
async function connectFailure(temporal: TemporalSettings, err: unknown): Promise<Error> {
  const cause = (err as { cause?: GrpcCause }).cause;
  // UNAUTHENTICATED, PERMISSION_DENIED: the frontend answered, and refused the credentials.
  if (cause?.code === 16 || cause?.code === 7) {
    let source: string;
    try {
      source =
        temporalApiKeySource(temporal)?.description ??
        'none configured (temporal.apiKeyFile, CRR_TEMPORAL_API_KEY)';
    } catch {
      source = 'unreadable';
    }
    return new Error(
      `Temporal at ${temporal.address} refused the client's credentials: ${cause.details ?? (err as Error).message} (API key: ${source})`,
      { cause: err },
    );
  }
  let message = (err as Error)?.message ?? String(err);
  if (cause?.details && !message.includes(cause.details)) message += `: ${cause.details}`;
  const secure = temporal.tls !== undefined || temporalApiKeySource(temporal) !== undefined;
  const tlsProblem = secure ? await probeTemporalTls(temporal) : undefined;
  return new Error(
    `Temporal at ${temporal.address} is unreachable: ${message}${tlsProblem ? ` (TLS: ${tlsProblem})` : ''}`,
    { cause: err },
  );
}

/** A client that is connected now: fails at once, naming the address, when the server is down. */
export async function connectTemporal(config: Pick<EngineConfig, 'temporal'>): Promise<TemporalClient> {
  const connection = await Connection.connect(connectionOptions(config.temporal)).catch(
    async (err: unknown) => {
      throw await connectFailure(config.temporal, err);
    },
  );
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    close: () => connection.close(),
  };
}

/**
 * A client that connects on first use and reconnects after an outage: for long-running
 * processes (the populator) that must start, and keep going, while Temporal is down.
 */
export function lazyTemporalClient(config: Pick<EngineConfig, 'temporal'>): TemporalClient {
  const connection = Connection.lazy(connectionOptions(config.temporal));
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    close: () => connection.close(),
  };
}

/**
 * The worker's connection (Rust core). Its API key is a string: a timer checks the key's file
 * and gives the connection a changed key (NativeConnection.setApiKey), so a rotation takes
 * effect within NATIVE_API_KEY_CHECK_MS without a restart.
 */
export async function connectWorkerConnection(
  config: Pick<EngineConfig, 'temporal'>,
  options: { logger?: TemporalConnectionLogger; checkMs?: number } = {},
): Promise<NativeConnection> {
  const { apiKeySource, ...nativeOptions } = nativeConnectionOptions(config.temporal);
  const connection = await NativeConnection.connect(nativeOptions).catch(async (err: unknown) => {
    throw await connectFailure(config.temporal, err);
  });
  if (apiKeySource) {
    let applied = apiKeySource.version();
    let failing = false;
    const timer = setInterval(() => {
      let key: string;
      try {
        if (apiKeySource.version() === applied) return;
        key = apiKeySource.read();
      } catch (err) {
        if (!failing) options.logger?.warn({ err: (err as Error).message }, 'Temporal API key unreadable');
        failing = true;
        return;
      }
      const version = apiKeySource.version();
      connection.setApiKey(key).then(
        () => {
          applied = version;
          failing = false;
          options.logger?.info(
            { source: apiKeySource.description },
            'Temporal API key changed: the worker connection uses the new key',
          );
        },
        (err: unknown) => {
          if (!failing)
            options.logger?.warn({ err: (err as Error).message }, 'could not set the new Temporal API key');
          failing = true;
        },
      );
    }, options.checkMs ?? NATIVE_API_KEY_CHECK_MS);
    timer.unref();
    const close = connection.close.bind(connection);
    connection.close = async () => {
      clearInterval(timer);
      await close();
    };
  }
  return connection;
}

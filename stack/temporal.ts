import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { CRR_SEARCH_ATTRIBUTES } from '../shared/search-attributes';
import { temporalBinary } from './binaries';
import { ManagedProcess, waitUntilReady } from './managed-process';
import { preferredOrFreePort } from './ports';

export interface TemporalEndpoint {
  address: string;
  namespace: string;
  uiUrl?: string;
}

export interface StartTemporalOptions {
  dataDir: string;
  logDir: string;
  grpcPort?: number;
  uiPort?: number;
  log: (line: string) => void;
}

/** Starts the Temporal CLI dev server with a persistence file, the Web UI and our search attributes. */
export async function startTemporal(
  options: StartTemporalOptions,
): Promise<{ endpoint: TemporalEndpoint; process: ManagedProcess }> {
  const binary = temporalBinary(options.log);
  const grpcPort = await preferredOrFreePort(options.grpcPort);
  const uiPort = await preferredOrFreePort(options.uiPort ?? grpcPort + 1000);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(grpcPort),
    '--ui-port',
    String(uiPort),
    '--db-filename',
    path.join(options.dataDir, 'temporal.sqlite'),
    '--log-level',
    'warn',
    // WAL with synchronous=NORMAL: commits survive a crash of the server process, and the
    // dev server is not fsync-bound on every state change (see docs/BENCHMARKS.md).
    ...(process.env.CRR_TEMPORAL_SQLITE_DEFAULTS === '1'
      ? []
      : ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal']),
    // Workflow ids embed bucket and key; keys may be 1024 bytes (ids longer than this are hashed).
    '--dynamic-config-value',
    'limit.maxIDLength=1000',
    ...Object.entries(CRR_SEARCH_ATTRIBUTES).flatMap(([name, type]) => [
      '--search-attribute',
      `${name}=${type}`,
    ]),
  ];
  const proc = new ManagedProcess({
    name: 'temporal',
    command: binary,
    args,
    logFile: path.join(options.logDir, 'temporal.log'),
  });
  const endpoint = {
    address: `127.0.0.1:${grpcPort}`,
    namespace: 'default',
    uiUrl: `http://127.0.0.1:${uiPort}`,
  };
  await waitForTemporal(endpoint, 60_000, proc);
  return { endpoint, process: proc };
}

/** Ready means: the frontend answers, the namespace exists and our search attributes are registered. */
export async function waitForTemporal(
  endpoint: TemporalEndpoint,
  timeoutMs: number,
  proc?: ManagedProcess,
): Promise<void> {
  await waitUntilReady(
    proc,
    `Temporal at ${endpoint.address}`,
    async () => {
      const connection = await Connection.connect({ address: endpoint.address, connectTimeout: 2_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: endpoint.namespace });
        return true;
      } finally {
        await connection.close();
      }
    },
    timeoutMs,
  );
}

/** Registers missing search attributes on a server we did not start (TEMPORAL_ADDRESS). */
export async function ensureSearchAttributes(endpoint: TemporalEndpoint): Promise<void> {
  const connection = await Connection.connect({ address: endpoint.address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace: endpoint.namespace });
    const missing = Object.keys(CRR_SEARCH_ATTRIBUTES).filter((name) => !(name in existing.customAttributes));
    if (missing.length === 0) return;
    await connection.operatorService.addSearchAttributes({
      namespace: endpoint.namespace,
      searchAttributes: Object.fromEntries(
        missing.map((name) => [name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
  } finally {
    await connection.close();
  }
}

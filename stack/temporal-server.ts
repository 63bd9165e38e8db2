import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporalServerBuild, temporalUiServerBinary, type TemporalServerBuild } from './binaries';
import { ManagedProcess, waitUntilReady } from './managed-process';
import { isPortFree } from './ports';
import { POSTGRES_ROLE, startPostgres, type PostgresCluster } from './postgres';
import {
  ensureSearchAttributes,
  waitForTemporal,
  type StartTemporalOptions,
  type TemporalEndpoint,
} from './temporal';
import { TEMPORAL_SERVER_VERSION } from './versions';

const execFileAsync = promisify(execFile);

/** Databases of the default store and of SQL advanced visibility, and their schema folders. */
const DATABASES = [
  { name: 'temporal', schema: 'temporal' },
  { name: 'temporal_visibility', schema: 'visibility' },
] as const;

const NAMESPACE = 'default';
/** Same retention as the dev server's default namespace. */
const RETENTION_SECONDS = 24 * 3600;

export const DEFAULT_TEMPORAL_SHARDS = 4;

/** Width of the workflow id columns (and of Keyword search attributes) in the PostgreSQL schema. */
export const POSTGRES_MAX_ID_LENGTH = 255;

/** CRR_TEMPORAL_SHARDS: history shards of a new CRR_TEMPORAL=server data folder (default 4). */
export function temporalShards(env: NodeJS.ProcessEnv): number {
  const raw = env.CRR_TEMPORAL_SHARDS;
  if (raw === undefined || raw === '') return DEFAULT_TEMPORAL_SHARDS;
  const shards = Number(raw);
  if (!Number.isInteger(shards) || shards < 1 || shards > 16384) {
    throw new Error(`CRR_TEMPORAL_SHARDS=${raw}: expected a whole number of history shards from 1 to 16384`);
  }
  return shards;
}

export interface StartTemporalServerOptions extends StartTemporalOptions {
  shards: number;
}

interface ServerPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  ui: number;
}

/**
 * CRR_TEMPORAL=server: the Temporal server (all four services in one process) on a private
 * PostgreSQL cluster, with SQL advanced visibility, the `default` namespace, our search
 * attributes and the Web UI server. Everything lives in `<dataDir>`, so a restart of the
 * stack with the same state folder finds its workflows again.
 */
export async function startTemporalServer(options: StartTemporalServerOptions): Promise<{
  endpoint: TemporalEndpoint;
  /** The Temporal server process (what a crash test kills and starts again). */
  process: ManagedProcess;
  /** PostgreSQL, which must stop after the others. */
  database: ManagedProcess;
  /** The Web UI server. */
  ui: ManagedProcess;
}> {
  const build = temporalServerBuild(options.log);
  const uiBinary = temporalUiServerBinary(options.log);
  const serverDir = path.join(options.dataDir, 'temporal-server');
  fs.mkdirSync(path.join(serverDir, 'config'), { recursive: true });
  checkShards(serverDir, options.shards);

  const postgres = await startPostgres(options);
  const started: ManagedProcess[] = [postgres.process];
  try {
    await setUpDatabases(build, postgres, serverDir, options.log);
    const ports = await serverPorts(serverDir, options);
    writeServerConfig(serverDir, ports, postgres, options.shards);
    const server = new ManagedProcess({
      name: 'temporal',
      command: build.server,
      args: ['--root', serverDir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
      logFile: path.join(options.logDir, 'temporal.log'),
    });
    started.push(server);
    const endpoint: TemporalEndpoint = {
      address: `127.0.0.1:${ports.frontend}`,
      namespace: NAMESPACE,
      uiUrl: `http://127.0.0.1:${ports.ui}`,
    };
    await waitUntilReady(
      server,
      `Temporal server at ${endpoint.address}`,
      async () => {
        const connection = await Connection.connect({ address: endpoint.address, connectTimeout: 2_000 });
        try {
          await connection.workflowService.getSystemInfo({});
          return true;
        } finally {
          await connection.close();
        }
      },
      120_000,
    );
    await registerNamespace(endpoint);
    await ensureSearchAttributes(endpoint);
    await waitForTemporal(endpoint, 60_000, server);

    const uiDir = path.join(options.dataDir, 'temporal-ui');
    writeUiConfig(uiDir, ports, endpoint);
    const ui = new ManagedProcess({
      name: 'temporal-ui',
      command: uiBinary,
      args: ['--root', uiDir, '--config', 'config', '--env', 'development', 'start'],
      logFile: path.join(options.logDir, 'temporal-ui.log'),
    });
    started.push(ui);
    await waitUntilReady(
      ui,
      `Temporal Web UI at ${endpoint.uiUrl}`,
      () => httpOk(`${endpoint.uiUrl}/healthz`),
      30_000,
    );
    return { endpoint, process: server, database: postgres.process, ui };
  } catch (err) {
    for (const proc of started.reverse()) await proc.stop();
    throw err;
  }
}

/** The shard count is fixed when the cluster is created: refuse a different one later. */
function checkShards(serverDir: string, shards: number): void {
  const file = path.join(serverDir, 'shards');
  if (fs.existsSync(file)) {
    const created = Number(fs.readFileSync(file, 'utf8').trim());
    if (created !== shards) {
      throw new Error(
        `${serverDir} was created with ${created} history shards and Temporal cannot change that: ` +
          `set CRR_TEMPORAL_SHARDS=${created}, or use a new state folder (CRR_STATE_DIR) for ${shards} shards`,
      );
    }
  } else {
    fs.writeFileSync(file, `${shards}\n`);
  }
}

/**
 * Creates both databases and applies the module's schemas with the sql tool, once per data
 * folder (a marker per database; an interrupted setup is dropped and done again). Later
 * starts run `update-schema`, which applies only what a newer pinned server adds.
 */
async function setUpDatabases(
  build: TemporalServerBuild,
  postgres: PostgresCluster,
  serverDir: string,
  log: (line: string) => void,
): Promise<void> {
  for (const db of DATABASES) {
    const tool = async (...args: string[]) => {
      const common = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgres.port)];
      const auth = ['-u', POSTGRES_ROLE, '--pw', POSTGRES_ROLE, '--db', db.name];
      try {
        await execFileAsync(build.sqlTool, [...common, ...auth, ...args], { maxBuffer: 16 << 20 });
      } catch (err) {
        const detail = (err as { stderr?: string }).stderr || (err as Error).message;
        throw new Error(`temporal-sql-tool ${args.join(' ')} (database ${db.name}) failed: ${detail}`, {
          cause: err,
        });
      }
    };
    const versioned = path.join(build.postgresSchemaDir, db.schema, 'versioned');
    const marker = path.join(serverDir, `${db.name}.schema`);
    if (!fs.existsSync(marker)) {
      log(`setting up the ${db.name} database (Temporal ${TEMPORAL_SERVER_VERSION} schema)...`);
      await tool('drop-database', '--force');
      await tool('create-database');
      await tool('setup-schema', '-v', '0.0');
      await tool('update-schema', '-d', versioned);
      fs.writeFileSync(marker, `${TEMPORAL_SERVER_VERSION}\n`);
    } else if (fs.readFileSync(marker, 'utf8').trim() !== TEMPORAL_SERVER_VERSION) {
      await tool('update-schema', '-d', versioned);
      fs.writeFileSync(marker, `${TEMPORAL_SERVER_VERSION}\n`);
    }
  }
}

/**
 * The ports of the four services (gRPC and membership), the frontend's HTTP API and the
 * Web UI: those of the previous start when they are all free (the data folder's cluster
 * membership then names live addresses at once), otherwise new ones.
 */
async function serverPorts(serverDir: string, options: StartTemporalOptions): Promise<ServerPorts> {
  const file = path.join(serverDir, 'ports.json');
  try {
    const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as ServerPorts;
    const wanted = [options.grpcPort ?? previous.frontend, options.uiPort ?? previous.ui];
    if (
      previous.frontend === wanted[0] &&
      previous.ui === wanted[1] &&
      (await Promise.all(Object.values(previous).map((p) => isPortFree(p)))).every(Boolean)
    ) {
      return previous;
    }
  } catch {
    // first start, or an unreadable file: new ports
  }
  const taken = new Set<number>();
  // Cluster membership stores ports as a PostgreSQL smallint: every port of the server must be
  // below 32768, where the kernel's ephemeral ports (what freePort returns) never are.
  const pick = async (preferred?: number): Promise<number> => {
    if (
      preferred !== undefined &&
      preferred < 32768 &&
      !taken.has(preferred) &&
      (await isPortFree(preferred))
    ) {
      taken.add(preferred);
      return preferred;
    }
    for (let attempt = 0; attempt < 1000; attempt++) {
      const port = 20000 + Math.floor(Math.random() * 12768);
      if (!taken.has(port) && (await isPortFree(port))) {
        taken.add(port);
        return port;
      }
    }
    throw new Error('no free port between 20000 and 32767 for the Temporal server');
  };
  const frontend = await pick(options.grpcPort);
  const ui = await pick(
    options.uiPort ?? (options.grpcPort === undefined ? undefined : options.grpcPort + 1000),
  );
  const ports: ServerPorts = {
    frontend,
    ui,
    frontendHttp: await pick(),
    frontendMembership: await pick(),
    history: await pick(),
    historyMembership: await pick(),
    matching: await pick(),
    matchingMembership: await pick(),
    worker: await pick(),
    workerMembership: await pick(),
  };
  fs.writeFileSync(file, JSON.stringify(ports, null, 2));
  return ports;
}

/**
 * The server's configuration, regenerated at every start (PostgreSQL's port may change).
 * JSON is valid YAML: the file is written as JSON under a YAML comment.
 */
function writeServerConfig(
  serverDir: string,
  ports: ServerPorts,
  postgres: PostgresCluster,
  shards: number,
): void {
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${postgres.port}`,
      connectProtocol: 'tcp',
      user: POSTGRES_ROLE,
      password: POSTGRES_ROLE,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipPort: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...(httpPort ? { httpPort } : {}) },
  });
  const frontend = `127.0.0.1:${ports.frontend}`;
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: shards,
      datastores: {
        'postgres-default': sql('temporal', 20),
        'postgres-visibility': sql('temporal_visibility', 10),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: service(ports.frontend, ports.frontendMembership, ports.frontendHttp),
      history: service(ports.history, ports.historyMembership),
      matching: service(ports.matching, ports.matchingMembership),
      worker: service(ports.worker, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: frontend,
          httpAddress: `127.0.0.1:${ports.frontendHttp}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    publicClient: { hostPort: frontend },
    dynamicConfigClient: {
      filepath: path.join(serverDir, 'config', 'dynamicconfig.yaml'),
      pollInterval: '10s',
    },
  };
  const dynamicConfig = {
    // Not the dev server's 1000: the PostgreSQL schema stores workflow ids in VARCHAR(255)
    // columns. With a larger limit the server accepts a longer id, then retries its insert
    // forever ("value too long for type character varying(255)"); with 255 it refuses it at
    // once (INVALID_ARGUMENT), which the populator dead-letters as a permanent error.
    'limit.maxIDLength': [{ value: POSTGRES_MAX_ID_LENGTH, constraints: {} }],
    // The dev server's value (the server's default is 10/s): status, failed and the backlog
    // observer count and list runs.
    'frontend.namespaceRPS.visibility': [{ value: 100, constraints: {} }],
  };
  const header = '# Generated by stack/temporal-server.ts at every start (JSON is YAML): edits are lost.\n';
  fs.writeFileSync(
    path.join(serverDir, 'config', 'development.yaml'),
    header + JSON.stringify(config, null, 2),
  );
  fs.writeFileSync(
    path.join(serverDir, 'config', 'dynamicconfig.yaml'),
    header + JSON.stringify(dynamicConfig, null, 2),
  );
}

function writeUiConfig(uiDir: string, ports: ServerPorts, endpoint: TemporalEndpoint): void {
  fs.mkdirSync(path.join(uiDir, 'config'), { recursive: true });
  const config = {
    temporalGrpcAddress: endpoint.address,
    host: '127.0.0.1',
    port: ports.ui,
    enableUi: true,
    defaultNamespace: endpoint.namespace,
    // Plain HTTP on loopback, as the dev server's UI.
    cors: { cookieInsecure: true, allowOrigins: [] },
    hideLogs: true,
  };
  fs.writeFileSync(
    path.join(uiDir, 'config', 'development.yaml'),
    '# Generated by stack/temporal-server.ts at every start (JSON is YAML): edits are lost.\n' +
      JSON.stringify(config, null, 2),
  );
}

/** Creates the namespace the engine uses (the dev server creates it itself). */
async function registerNamespace(endpoint: TemporalEndpoint): Promise<void> {
  const connection = await Connection.connect({ address: endpoint.address });
  try {
    await connection.workflowService.registerNamespace({
      namespace: endpoint.namespace,
      workflowExecutionRetentionPeriod: msToTs(RETENTION_SECONDS * 1000),
    });
  } catch (err) {
    // 6 = ALREADY_EXISTS: a restart with the same data folder.
    if ((err as { code?: number }).code !== 6) throw err;
  } finally {
    await connection.close();
  }
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * Temporal with mutual TLS and an API key (issue 13). The Temporal CLI dev server (v1.5.1,
 * `temporal server start-dev --help`) has no TLS settings, so this test puts a TLS frontend
 * in front of the stack's server (test/support/temporal-tls-proxy.ts: HTTP/2, client
 * certificates required, API keys checked on every call), as a load balancer or Temporal
 * Cloud's edge does; docs/SECURITY.md has the settings of a real server's frontend TLS.
 *
 * The engine's connections (clients/temporal.ts) work with the right CA, client certificate,
 * server name and key: a workflow runs on a worker connected through it; each wrong setting
 * is refused with an error that says what to check; a rotated API key file is taken over by
 * the clients and by the worker's native connection without a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import {
  connectTemporal,
  connectWorkerConnection,
  lazyTemporalClient,
  type TemporalClient,
} from '../../clients/temporal';
import { parseEngineConfig, type EngineConfig } from '../../config/engine-config';
import { createSmokeActivities } from '../support/smoke-activities';
import { makeTestPki, SecureServers, testSecret, type TestPki } from '../support/secure-stack';
import { testStack } from '../support/stack';
import type { TemporalTlsProxy } from '../support/temporal-tls-proxy';
import { replaceFile, type IssuedCertificate } from '../support/test-certificates';

const stack = testStack();
const servers = new SecureServers('temporal-tls');
let pki: TestPki;
let client: IssuedCertificate;
let proxy: TemporalTlsProxy;
let accepted: string[] = [];
let apiKeyFile: string;
const firstKey = testSecret('apikeyone');
const secondKey = testSecret('apikeytwo');

beforeAll(async () => {
  pki = makeTestPki(servers.dir);
  client = pki.client('crr-worker');
  accepted = [firstKey];
  proxy = await servers.temporalFrontend(pki, stack.temporal.address, () => accepted);
  apiKeyFile = path.join(servers.dir, 'temporal-api-key');
  fs.writeFileSync(apiKeyFile, `${firstKey}\n`, { mode: 0o600 });
}, 60_000);

afterAll(() => servers.stop(), 30_000);

function config(
  tls: { caFile?: string; clientCertificate?: boolean; serverName?: string | null } = {},
  /** The API key file; null: none. */
  apiKey: string | null = apiKeyFile,
): EngineConfig {
  return parseEngineConfig(
    {
      sourceSite: 'src',
      sites: { src: { endpoint: 'http://127.0.0.1:1' } },
      temporal: {
        address: proxy.address,
        namespace: stack.temporal.namespace,
        taskQueuePrefix: `tls-${Date.now()}`,
        tls: {
          caFile: tls.caFile ?? pki.ca.certFile,
          ...(tls.clientCertificate === false ? {} : { certFile: client.certFile, keyFile: client.keyFile }),
          ...(tls.serverName === null ? {} : { serverName: tls.serverName ?? 'temporal.crr.test' }),
        },
        ...(apiKey ? { apiKeyFile: apiKey } : {}),
      },
    },
    {},
  );
}

async function failure(connect: Promise<TemporalClient>): Promise<string> {
  return connect.then(
    async (c) => {
      await c.close();
      throw new Error('connected');
    },
    (err: unknown) => (err as Error).message,
  );
}

describe('Temporal over mutual TLS with an API key', () => {
  test('right settings: a workflow runs on a worker, both connected through the TLS frontend', async () => {
    const cfg = config();
    const connection = await connectWorkerConnection(cfg);
    const temporal = await connectTemporal(cfg);
    const taskQueue = `${cfg.temporal.taskQueuePrefix}-smoke`;
    try {
      const worker = await Worker.create({
        connection,
        namespace: cfg.temporal.namespace,
        taskQueue,
        workflowsPath: require.resolve('../support/smoke-workflows'),
        activities: createSmokeActivities('tls-worker'),
      });
      const result = await worker.runUntil(
        temporal.client.workflow.execute('smokeWorkflow', {
          taskQueue,
          workflowId: taskQueue,
          args: ['mtls'],
        }),
      );
      expect(result).toBe('mtls ran on tls-worker (activity describeWorker)');
    } finally {
      await temporal.close();
      await connection.close();
    }
    expect(proxy.clientSubjects.has('crr-worker')).toBe(true);
    expect(proxy.callsWith(firstKey, /grpc-node-js/)).toBeGreaterThan(0); // the client
    expect(proxy.callsWith(firstKey, /^(?!grpc-node-js)/)).toBeGreaterThan(0); // the worker's core
    expect(proxy.callsWith('')).toBe(0);
  }, 120_000);

  test('the wrong CA: refused, naming the CA file', async () => {
    const message = await failure(connectTemporal(config({ caFile: pki.wrongCa.certFile })));
    expect(message).toContain(`Temporal at ${proxy.address} is unreachable`);
    expect(message).toContain(
      `(TLS: the server certificate is not signed by a CA of temporal.tls.caFile ${pki.wrongCa.certFile}`,
    );
  }, 60_000);

  test('no client certificate: the server requires one, and the error says what to set', async () => {
    const message = await failure(connectTemporal(config({ clientCertificate: false })));
    expect(message).toContain(
      '(TLS: the server requires a client certificate: set temporal.tls.certFile and keyFile',
    );
  }, 60_000);

  test('a server name the certificate does not have: the error says to set temporal.tls.serverName', async () => {
    const message = await failure(connectTemporal(config({ serverName: null })));
    expect(message).toContain('the server certificate does not name 127.0.0.1: set temporal.tls.serverName');
  }, 60_000);

  test('a wrong or missing API key: refused, naming where the key came from, never the key', async () => {
    const wrongFile = path.join(servers.dir, 'wrong-api-key');
    const wrongKey = testSecret('wrongkey');
    fs.writeFileSync(wrongFile, wrongKey);
    const wrong = await failure(connectTemporal(config({}, wrongFile)));
    expect(wrong).toMatch(
      /^Temporal at .* refused the client's credentials: API key not accepted \(API key: file .*wrong-api-key \(temporal\.apiKeyFile\)\)$/,
    );
    expect(wrong).not.toContain(wrongKey);
    const missing = await failure(connectTemporal(config({}, null)));
    expect(missing).toContain('API key required (API key: none configured');
  }, 60_000);

  test('an API key rotated in its file: the clients and the worker connection use it without a restart', async () => {
    const cfg = config();
    const changes: string[] = [];
    const connection = await connectWorkerConnection(cfg, {
      checkMs: 250,
      logger: {
        info: (_fields, message) => changes.push(message),
        warn: (_fields, message) => changes.push(message),
      },
    });
    const lazy = lazyTemporalClient(cfg);
    const taskQueue = `${cfg.temporal.taskQueuePrefix}-rotation`;
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue,
      workflowsPath: require.resolve('../support/smoke-workflows'),
      activities: createSmokeActivities('rotated-worker'),
    });
    const run = worker.run();
    const fromWorker = /^(?!grpc-node-js)/;
    try {
      const execute = (id: string) =>
        lazy.client.workflow.execute('smokeWorkflow', {
          taskQueue,
          workflowId: `${taskQueue}-${id}`,
          args: [id],
        });
      expect(await execute('before')).toBe('before ran on rotated-worker (activity describeWorker)');
      // A rotation as a server with several keys allows: the new key is accepted, the file gets
      // it, the processes take it over, then the old key is revoked.
      accepted = [firstKey, secondKey];
      replaceFile(apiKeyFile, `${secondKey}\n`);
      const deadline = Date.now() + 20_000;
      while (!changes.includes('Temporal API key changed: the worker connection uses the new key')) {
        if (Date.now() > deadline)
          throw new Error(`the worker connection did not take the new key: ${changes.join('; ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Long polls already waiting keep the key they started with; the next ones carry the new key.
      expect(await execute('during')).toBe('during ran on rotated-worker (activity describeWorker)');
      while (proxy.callsWith(secondKey, fromWorker) === 0) {
        if (Date.now() > deadline) throw new Error('the worker never polled with the new key');
        await new Promise((r) => setTimeout(r, 100));
      }
      // The client reads the key file at its calls (stat'ed at most once a second).
      while (proxy.callsWith(secondKey, /grpc-node-js/) === 0) {
        if (Date.now() > deadline) throw new Error('the client never called with the new key');
        await lazy.client.workflowService.getSystemInfo({});
        await new Promise((r) => setTimeout(r, 200));
      }
      accepted = [secondKey];
      expect(await execute('after')).toBe('after ran on rotated-worker (activity describeWorker)');
    } finally {
      worker.shutdown();
      await run;
      await lazy.close();
      await connection.close();
      accepted = [firstKey];
      replaceFile(apiKeyFile, `${firstKey}\n`);
    }
  }, 120_000);
});

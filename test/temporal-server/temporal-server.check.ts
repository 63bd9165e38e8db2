import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { CRR_SEARCH_ATTRIBUTES } from '../../shared/search-attributes';
import { startTemporalServer, temporalShards } from '../../stack/temporal-server';
import { TEMPORAL_SERVER_VERSION } from '../../stack/versions';
import { testStack } from '../support/stack';

/**
 * The CRR_TEMPORAL=server stack option (stack/temporal-server.ts): run only by
 * `npm run test:temporal-server` (jest.temporal-server.config.js), which starts the test
 * stack with it. Against any other Temporal it fails, never skips.
 */

const stack = testStack();

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function withConnection<T>(address: string, use: (c: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}

test('the test stack runs the Temporal server on PostgreSQL, with our namespace, search attributes and Web UI', async () => {
  await withConnection(stack.temporal.address, async (connection) => {
    const cluster = await connection.workflowService.getClusterInfo({});
    expect({
      serverVersion: cluster.serverVersion,
      persistenceStore: cluster.persistenceStore,
      visibilityStore: cluster.visibilityStore,
      historyShardCount: cluster.historyShardCount,
    }).toEqual({
      serverVersion: TEMPORAL_SERVER_VERSION.replace(/^v/, ''),
      persistenceStore: 'postgres12',
      visibilityStore: 'postgres12',
      historyShardCount: temporalShards(process.env),
    });

    const attributes = await connection.operatorService.listSearchAttributes({
      namespace: stack.temporal.namespace,
    });
    for (const name of Object.keys(CRR_SEARCH_ATTRIBUTES)) {
      expect([name, attributes.customAttributes[name]]).toEqual([
        name,
        temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      ]);
    }

    // The visibility queries the CLI and the control API run (operations/failures.ts, backlog).
    const client = new Client({ connection, namespace: stack.temporal.namespace });
    await expect(client.workflow.count(`CrrStatus = 'FAILED' AND CrrSite = 'target'`)).resolves.toBeDefined();
    await expect(
      client.workflow.count(`ExecutionStatus = 'Running' AND StartTime < '${new Date().toISOString()}'`),
    ).resolves.toBeDefined();
  });

  // The Web UI server answers and reaches the frontend through its API.
  expect(stack.temporal.uiUrl).toBeDefined();
  expect((await get(`${stack.temporal.uiUrl}/healthz`)).status).toBe(200);
  const namespaces = await get(`${stack.temporal.uiUrl}/api/v1/namespaces`);
  expect(namespaces.status).toBe(200);
  expect(namespaces.body).toContain(`"${stack.temporal.namespace}"`);
});

test('a second start on the same data folder finds the namespace, search attributes and workflows again', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-temporal-server-restart-'));
  const dataDir = path.join(dir, 'data');
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(dataDir);
  fs.mkdirSync(logDir);
  const options = { dataDir, logDir, log: () => undefined, shards: 2 };
  const workflowId = `restart-check-${Date.now()}`;
  try {
    const first = await startTemporalServer(options);
    try {
      await withConnection(first.endpoint.address, async (connection) => {
        const client = new Client({ connection, namespace: first.endpoint.namespace });
        // No worker: the run stays open, which is all this check needs.
        await client.workflow.start('notRegistered', { taskQueue: 'restart-check', workflowId, args: [] });
      });
    } finally {
      await first.ui.stop();
      await first.process.stop();
      await first.database.stop();
    }

    const second = await startTemporalServer(options);
    try {
      expect(second.endpoint.address).toBe(first.endpoint.address);
      await withConnection(second.endpoint.address, async (connection) => {
        const client = new Client({ connection, namespace: second.endpoint.namespace });
        const described = await client.workflow.getHandle(workflowId).describe();
        expect(described.status.name).toBe('RUNNING');
        const attributes = await connection.operatorService.listSearchAttributes({
          namespace: second.endpoint.namespace,
        });
        expect(Object.keys(attributes.customAttributes)).toEqual(
          expect.arrayContaining(Object.keys(CRR_SEARCH_ATTRIBUTES)),
        );
      });
    } finally {
      await second.ui.stop();
      await second.process.stop();
      await second.database.stop();
    }

    // The shard count is fixed at creation: a different one is refused with the way out.
    await expect(startTemporalServer({ ...options, shards: 3 })).rejects.toThrow(/CRR_TEMPORAL_SHARDS=2/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);

/**
 * The control API on the real stack: every route with the right token, without it (401),
 * with bad input (400 naming the field), a missing site (404), a body over the limit (413),
 * and readiness naming what is down.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startApi, type RunningApi } from '../../api/start';
import { processRegistry } from '../../metrics/registry';
import { startMetricsServer, type MetricsServer } from '../../metrics/server';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const TOKEN = 'test-token-0123456789abcdef';
const harness = new ReplicationHarness(
  stack,
  'api',
  [{ site: 'target', bucket: uniqueBucket('api-dst') }],
  { pausePollMs: 500 },
  (raw) => {
    // A site nothing answers on: readiness must name it.
    raw.sites['unreachable'] = { endpoint: 'http://127.0.0.1:1', profile: 'crr-target' };
  },
);
let api: RunningApi;
let workerMetrics: MetricsServer;

beforeAll(async () => {
  await harness.start();
  // The harness's worker runs in this process: its counters are this process's registry.
  workerMetrics = await startMetricsServer({
    registry: processRegistry(),
    host: '127.0.0.1',
    port: 19_464 + Math.floor(Math.random() * 500),
    logger: { info: () => undefined, warn: () => undefined },
    component: 'worker',
  });
  const config = structuredClone(harness.config);
  config.api.workerMetricsUrls = [`${workerMetrics.url!}.json`, 'http://127.0.0.1:1/metrics.json'];
  config.api.metricsSampleSeconds = 0.5;
  api = await startApi(config, { port: 0, env: { CRR_API_TOKEN: TOKEN } });
}, 120_000);
afterAll(async () => {
  await api?.close();
  await workerMetrics?.close();
  await harness.stop();
}, 60_000);

async function call(
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string | null } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${api.url}${path}`, { method, headers, body });
  const text = await response.text();
  const json = response.headers.get('content-type')?.startsWith('application/json')
    ? (JSON.parse(text) as Record<string, unknown>)
    : { text };
  return { status: response.status, json };
}

test('liveness needs no token; every other route answers 401 without the right one', async () => {
  expect(await call('GET', '/_/health/live', { token: null })).toEqual({
    status: 200,
    json: { status: 'ok' },
  });
  for (const [method, path] of [
    ['GET', '/_/health/ready'],
    ['GET', '/_/crr/failed'],
    ['GET', '/_/crr/sites'],
    ['POST', '/_/crr/pause/target'],
    ['POST', '/_/crr/resume/target'],
    ['POST', '/_/crr/retry'],
    ['GET', '/_/openapi.json'],
    ['GET', '/metrics'],
  ] as const) {
    expect((await call(method, path, { token: null })).status).toBe(401);
    const wrong = await call(method, path, { token: 'not-the-token-0123456789' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.message).toBe('missing or wrong bearer token');
  }
});

test('readiness names what is down', async () => {
  const ready = await call('GET', '/_/health/ready');
  expect(ready.status).toBe(503);
  expect(ready.json.down).toEqual(['site unreachable']);
  const names = (ready.json.dependencies as Array<{ name: string; ok: boolean }>)
    .filter((d) => d.ok)
    .map((d) => d.name);
  expect(names).toEqual(expect.arrayContaining(['kafka', 'temporal', 'site source', 'site target']));
});

test("an object's status per site", async () => {
  const put = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'api/a b+%.txt', Body: 'x' }),
  );
  await harness.waitForVersion('target', 'api/a b+%.txt', put.VersionId!);
  const r = await call(
    'GET',
    `/_/crr/object?bucket=${harness.sourceBucket}&key=${encodeURIComponent('api/a b+%.txt')}`,
  );
  expect(r.status).toBe(200);
  const sites = r.json.sites as Array<{
    site: string;
    versions: Array<{ versionId: string; status: string }>;
  }>;
  const target = sites.find((s) => s.site === 'target')!;
  expect(target.versions.find((v) => v.versionId === put.VersionId)?.status).toBe('COMPLETED');
  expect((await call('GET', '/_/crr/object?bucket=no-such-bucket&key=k')).status).toBe(404);
  const noKey = await call('GET', `/_/crr/object?bucket=${harness.sourceBucket}`);
  expect(noKey.status).toBe(400);
  expect(noKey.json.message).toMatch(/querystring must have required property 'key'/);
});

test('bad input is a 400 that names the field; a missing site a 404; a big body a 413', async () => {
  const limit = await call('GET', '/_/crr/failed?limit=0');
  expect(limit.status).toBe(400);
  expect(limit.json.message).toMatch(/querystring\/limit/);
  const hours = await call('POST', '/_/crr/pause/target', { body: { hours: -1 } });
  expect(hours.status).toBe(400);
  expect(hours.json.message).toMatch(/body\/hours/);
  const extra = await call('POST', '/_/crr/retry', { body: { bukcet: 'typo' } });
  expect(extra.status).toBe(400);
  expect(extra.json.message).toMatch(/additional properties/);
  const notJson = await call('POST', '/_/crr/retry', { rawBody: '{not json' });
  expect(notJson.status).toBe(400);
  const missing = await call('POST', '/_/crr/pause/nowhere', { body: {} });
  expect(missing.status).toBe(404);
  expect(missing.json.message).toMatch(/unknown destination site "nowhere"/);
  const big = await call('POST', '/_/crr/retry', { rawBody: JSON.stringify({ bucket: 'x'.repeat(70_000) }) });
  expect(big.status).toBe(413);
});

test('pause with a scheduled resume, per-site status, resume', async () => {
  const paused = await call('POST', '/_/crr/pause/target', { body: { hours: 2, reason: 'maintenance' } });
  expect(paused.status).toBe(200);
  expect((paused.json.sites as Array<{ paused: boolean }>)[0]!.paused).toBe(true);
  // The memo follows once the control workflow ran.
  let target: Record<string, unknown> | undefined;
  for (let i = 0; i < 40 && !target?.paused; i++) {
    target = (await call('GET', '/_/crr/sites/target')).json;
    if (!target.paused) await new Promise((r) => setTimeout(r, 250));
  }
  expect(target).toMatchObject({
    site: 'target',
    paused: true,
    reason: 'maintenance',
    backlogKeys: expect.any(Number),
  });
  expect(Date.parse(target!.resumeAt as string) - Date.now()).toBeGreaterThan(1.9 * 3_600_000);
  const all = await call('GET', '/_/crr/sites');
  expect((all.json.sites as Array<{ site: string }>).map((s) => s.site).sort()).toEqual([
    'target',
    'unreachable',
  ]);
  const resumed = await call('POST', '/_/crr/resume/target');
  expect(resumed.status).toBe(200);
  expect((resumed.json.sites as Array<{ paused: boolean }>)[0]!.paused).toBe(false);
});

test('failed and retry', async () => {
  const failed = await call('GET', `/_/crr/failed?bucket=${harness.sourceBucket}&limit=5`);
  expect(failed.status).toBe(200);
  expect(failed.json.items).toEqual([]);
  expect(failed.json.ended).toEqual([]);
  const retried = await call('POST', '/_/crr/retry', {
    body: { bucket: harness.sourceBucket, key: 'api/a b+%.txt' },
  });
  expect(retried).toEqual({ status: 200, json: { retriedKeys: 0 } });
  const keyWithoutBucket = await call('POST', '/_/crr/retry', { body: { key: 'k' } });
  expect(keyWithoutBucket.status).toBe(400);
  expect(keyWithoutBucket.json.message).toMatch(/body\/key needs body\/bucket/);
});

test("per-site metrics: completions, bytes, throughput and latency from the workers' counters", async () => {
  const body = 'm'.repeat(4096);
  const put = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'api/metrics.bin', Body: body }),
  );
  await harness.waitForVersion('target', 'api/metrics.bin', put.VersionId!);
  type Metrics = {
    completed: number;
    replicated: number;
    bytes: number;
    completedPerSecond: number;
    latencySeconds: { p50: number | null; p99: number | null };
    workersReporting: number;
    workersUnreachable: string[];
    windowSeconds: number;
  };
  let metrics: Metrics | undefined;
  for (let i = 0; i < 40 && !(metrics && metrics.bytes >= 4096); i++) {
    const site = await call('GET', '/_/crr/sites/target');
    expect(site.status).toBe(200);
    expect(site.json).toMatchObject({
      backlogKeys: expect.any(Number),
      oldestPendingAgeSeconds: expect.any(Number),
    });
    metrics = site.json.metrics as Metrics;
    if (metrics.bytes < 4096) await new Promise((r) => setTimeout(r, 250));
  }
  expect(metrics!.replicated).toBeGreaterThanOrEqual(1);
  expect(metrics!.completed).toBeGreaterThanOrEqual(metrics!.replicated);
  expect(metrics!.bytes).toBeGreaterThanOrEqual(4096);
  expect(metrics!.completedPerSecond).toBeGreaterThan(0);
  expect(metrics!.windowSeconds).toBeGreaterThan(0);
  expect(metrics!.latencySeconds.p50).toEqual(expect.any(Number));
  expect(metrics!.latencySeconds.p50!).toBeLessThanOrEqual(metrics!.latencySeconds.p99!);
  // One worker answers; the other address is named as unreachable.
  expect(metrics!.workersReporting).toBe(1);
  expect(metrics!.workersUnreachable).toEqual(['http://127.0.0.1:1/metrics.json']);
  const own = await call('GET', '/metrics');
  expect(own.status).toBe(200);
  expect(own.json.text).toMatch(
    /crr_api_requests_total\{route="\/_\/crr\/sites\/:site",method="GET",status="200"\} [1-9]/,
  );
  expect(own.json.text).toMatch(/process_cpu_seconds_total/);
});

test('failed lists a key whose run was cancelled from the Temporal UI as ended', async () => {
  expect((await call('POST', '/_/crr/pause/target', { body: {} })).status).toBe(200);
  await waitFor(
    'the worker to pause the site',
    async () => (harness.worker.sites()[0]!.state === 'paused' ? true : undefined),
    5_000,
  );
  await source.send(new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'api/ended', Body: 'x' }));
  const workflowId = replicationWorkflowId('target', harness.sourceBucket, 'api/ended');
  await waitFor(
    'the populator to start the run',
    async () => (await harness.temporal.workflow.getHandle(workflowId).describe()).runId,
    30_000,
  );
  await harness.temporal.workflow.getHandle(workflowId).cancel();
  expect((await call('POST', '/_/crr/resume/target')).status).toBe(200);
  const ended = await waitFor(
    'the cancelled run in /_/crr/failed',
    async () => {
      const page = await call('GET', `/_/crr/failed?bucket=${harness.sourceBucket}`);
      const list = page.json.ended as Array<Record<string, unknown>>;
      return list.length > 0 ? list : undefined;
    },
    20_000,
  );
  expect(ended).toEqual([
    { workflowId, bucket: harness.sourceBucket, key: 'api/ended', site: 'target', runStatus: 'CANCELLED' },
  ]);
  // Later pages carry only FAILED keys.
  const second = await call('GET', `/_/crr/failed?bucket=${harness.sourceBucket}&offset=100`);
  expect(second.json.ended).toEqual([]);
}, 60_000);

/**
 * The control API on the real stack: every route with the right token, without it (401),
 * with bad input (400 naming the field), a missing site (404), a body over the limit (413),
 * and readiness naming what is down.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startApi, type RunningApi } from '../../api/start';
import { ReplicationHarness } from '../support/replication-harness';
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

beforeAll(async () => {
  await harness.start();
  api = await startApi(harness.config, { port: 0, env: { CRR_API_TOKEN: TOKEN } });
}, 120_000);
afterAll(async () => {
  await api?.close();
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
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
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
  const retried = await call('POST', '/_/crr/retry', {
    body: { bucket: harness.sourceBucket, key: 'api/a b+%.txt' },
  });
  expect(retried).toEqual({ status: 200, json: { retriedKeys: 0 } });
  const keyWithoutBucket = await call('POST', '/_/crr/retry', { body: { key: 'k' } });
  expect(keyWithoutBucket.status).toBe(400);
  expect(keyWithoutBucket.json.message).toMatch(/body\/key needs body\/bucket/);
});

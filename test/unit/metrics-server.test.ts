import http from 'node:http';
import net from 'node:net';
import { Counter, Registry } from 'prom-client';
import { startMetricsServer } from '../../metrics/server';
import { freePort } from '../../stack/ports';

function get(url: string, method = 'GET'): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const log = (level: string) => (fields: Record<string, unknown>, message: string) =>
    void lines.push({ level, fields, message });
  return { lines, logger: { info: log('info'), warn: log('warn') } as never };
}

test('GET /metrics serves the registry in the Prometheus text format; other paths and methods are refused', async () => {
  const registry = new Registry();
  new Counter({ name: 'crr_test_total', help: 'a test counter', registers: [registry] }).inc(3);
  const { lines, logger } = recordingLogger();
  const port = await freePort();
  const server = await startMetricsServer({ registry, host: '127.0.0.1', port, logger, component: 'worker' });
  try {
    expect(server.url).toBe(`http://127.0.0.1:${port}/metrics`);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', fields: { metrics: server.url } }));
    const scraped = await get(server.url!);
    expect(scraped.status).toBe(200);
    expect(scraped.type).toContain('text/plain');
    expect(scraped.body).toContain('# TYPE crr_test_total counter');
    expect(scraped.body).toContain('crr_test_total 3');
    expect((await get(`${server.url}?x=1`)).status).toBe(200);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(404);
    expect((await get(server.url!, 'POST')).status).toBe(405);
    expect((await get(server.url!, 'HEAD')).body).toBe('');
  } finally {
    await server.close();
  }
  // Closed: the port is free again.
  await expect(get(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
});

test('a busy port is a warning naming the port, and the process goes on without metrics', async () => {
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const { port } = busy.address() as net.AddressInfo;
  try {
    const { lines, logger } = recordingLogger();
    const server = await startMetricsServer({
      registry: new Registry(),
      host: '127.0.0.1',
      port,
      logger,
      component: 'populator',
    });
    expect(server.url).toBeUndefined();
    await server.close();
    const warning = lines.find((l) => l.level === 'warn');
    expect(warning?.fields).toMatchObject({ port, code: 'EADDRINUSE' });
    expect(warning?.message).toContain(`metrics port ${port} is busy`);
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }
});

test('port 0 turns the server off', async () => {
  const { lines, logger } = recordingLogger();
  const server = await startMetricsServer({
    registry: new Registry(),
    host: '127.0.0.1',
    port: 0,
    logger,
    component: 'worker',
  });
  expect(server.url).toBeUndefined();
  expect(lines.map((l) => l.message)).toEqual(['worker metrics off (port 0)']);
  await server.close();
});

test('an unusable host is a warning too', async () => {
  const { lines, logger } = recordingLogger();
  const server = await startMetricsServer({
    registry: new Registry(),
    host: '203.0.113.1', // TEST-NET-3: not an address of this machine
    port: await freePort(),
    logger,
    component: 'worker',
  });
  expect(server.url).toBeUndefined();
  expect(lines.find((l) => l.level === 'warn')?.message).toContain('cannot serve metrics on 203.0.113.1');
});

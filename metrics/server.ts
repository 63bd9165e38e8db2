import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** Where the metrics are served (`http://host:port/metrics`); undefined when off or not listening. */
  readonly url: string | undefined;
  /** Stops serving (open scrapes are cut); resolves when the port is free. */
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  registry: Registry;
  /** `config.metrics.host`: loopback unless the operator opens it. */
  host: string;
  /** 0 turns the server off. */
  port: number;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** The process, for the log lines ("worker", "populator"). */
  component: string;
}

const OFF: MetricsServer = { url: undefined, close: async () => undefined };

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
}

async function answer(registry: Registry, req: http.IncomingMessage, res: http.ServerResponse) {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics' && path !== '/metrics.json') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: see /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
    return;
  }
  try {
    // The JSON form feeds the control API's per-site summaries (metrics/site-rates.ts).
    const json = path === '/metrics.json';
    const body = json ? JSON.stringify(await registry.getMetricsAsJSON()) : await registry.metrics();
    const contentType = json ? 'application/json' : registry.contentType;
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (err) {
    res
      .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      .end(`could not collect the metrics: ${(err as Error).message}\n`);
  }
}

/**
 * Serves `GET /metrics` (Prometheus text format, and `/metrics.json` for the control API)
 * from `registry` on `host:port`. Started by
 * the entry points only (workers/main.ts, populator/main.ts). Never fails the process: a busy
 * or unusable port is logged as a warning and the process goes on without metrics. The
 * server does not keep the process alive by itself.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, host, port, logger, component } = options;
  if (port === 0) {
    logger.info({ metrics: 'off' }, `${component} metrics off (port 0)`);
    return OFF;
  }
  const server = http.createServer((req, res) => void answer(registry, req, res));
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const listening = await new Promise<boolean>((resolve) => {
    const failed = (err: NodeJS.ErrnoException) => {
      logger.warn(
        { port, host, code: err.code, err: err.message },
        err.code === 'EADDRINUSE'
          ? `metrics port ${port} is busy: ${component} metrics are not served, the ${component} goes on`
          : `cannot serve metrics on ${host}:${port}: ${component} metrics are not served, the ${component} goes on`,
      );
      resolve(false);
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve(true);
    });
  });
  if (!listening) {
    server.close();
    return OFF;
  }
  server.on('error', (err) => logger.warn({ err: err.message }, `${component} metrics server error`));
  server.unref();
  const bound = (server.address() as AddressInfo | null)?.port ?? port;
  const url = urlOf(host, bound);
  logger.info({ metrics: url }, `${component} metrics on ${url}`);
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

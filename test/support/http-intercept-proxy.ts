import http from 'node:http';
import type net from 'node:net';

type RequestMatch = (method: string, url: URL) => boolean;

/**
 * A loopback HTTP proxy in front of a real server that passes every request through
 * unchanged (headers included, so signatures still hold) and can hold one answer while a test
 * does something on the server: a deterministic way to make a user's write land between the
 * engine's read and its next request, a race a test could otherwise only hope to hit.
 */
export class HttpInterceptProxy {
  private server?: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private hook?: {
    matches: RequestMatch;
    run: () => Promise<void>;
    ran: () => void;
    failed: (e: unknown) => void;
  };
  port = 0;

  constructor(private readonly upstream: URL) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const forwarded = http.request(
        {
          host: this.upstream.hostname,
          port: this.upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          const hook = this.hook;
          const url = new URL(req.url ?? '/', 'http://proxy');
          const release = () => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          };
          if (!hook || !hook.matches(req.method ?? 'GET', url)) return release();
          this.hook = undefined;
          hook.run().then(
            () => {
              hook.ran();
              release();
            },
            (err: unknown) => {
              hook.failed(err);
              release();
            },
          );
        },
      );
      forwarded.on('error', () => res.destroy());
      req.pipe(forwarded);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /**
   * The next request that `matches` reaches the server and gets its answer; then `run` runs,
   * and only then does the client get that answer. Resolves once `run` ran (rejects with its
   * error).
   */
  afterAnswerTo(matches: RequestMatch, run: () => Promise<void>): Promise<void> {
    return new Promise((ran, failed) => {
      this.hook = { matches, run, ran, failed };
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

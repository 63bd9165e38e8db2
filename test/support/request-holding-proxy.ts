import http from 'node:http';
import type net from 'node:net';

type RequestMatch = (method: string, url: URL) => boolean;

interface Hold {
  matches: RequestMatch;
  /** 'request': held before it reaches the server; 'response': the server's answer is held. */
  stage: 'request' | 'response';
  held: () => void;
  release: Promise<void>;
  clientGone: () => void;
}

/**
 * A loopback HTTP proxy in front of a real S3 server that can hold one whole request (body
 * read) before it reaches the server, and deliver it later even if the client gave up on it:
 * what a frozen server or a healed network partition does to a write the engine already sent.
 */
export class RequestHoldingProxy {
  private server?: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private hold?: Hold;
  private partition?: {
    matches: RequestMatch;
    held: Array<{ deliver: () => Promise<string>; res: http.ServerResponse }>;
  };
  /** Every request forwarded, in order: `METHOD path?query`. */
  readonly log: string[] = [];
  port = 0;

  constructor(private readonly upstream: URL) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://proxy');
        if (this.partition?.matches(req.method ?? 'GET', url)) {
          // Never answered before heal(): its client gives up, and it is delivered all the same.
          const body = Buffer.concat(chunks);
          this.partition.held.push({
            deliver: () =>
              new Promise<string>((answered) =>
                this.forward(req, body, res, undefined, (status) => answered(`${req.method} ${status}`)),
              ),
            res,
          });
          return;
        }
        const hold = this.hold?.matches(req.method ?? 'GET', url) ? this.hold : undefined;
        if (hold) {
          this.hold = undefined;
          res.on('close', () => {
            if (!res.writableFinished) hold.clientGone();
          });
          if (hold.stage === 'request') {
            hold.held();
            void hold.release.then(() => this.forward(req, Buffer.concat(chunks), res));
          } else {
            this.forward(req, Buffer.concat(chunks), res, hold);
          }
        } else {
          this.forward(req, Buffer.concat(chunks), res);
        }
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /**
   * Holds the next request that matches until `release()` is called: the request itself, or
   * with `stage` 'response' the server's whole answer to it (the server acts at once). `held`
   * resolves once it is held; `clientGone` once its client closed the connection (an aborted
   * request).
   */
  holdNext(
    matches: RequestMatch,
    stage: Hold['stage'] = 'request',
  ): { held: Promise<void>; clientGone: Promise<void>; release: () => void } {
    let held!: () => void;
    let clientGone!: () => void;
    let release!: () => void;
    const heldPromise = new Promise<void>((r) => (held = r));
    const gonePromise = new Promise<void>((r) => (clientGone = r));
    const released = new Promise<void>((r) => (release = r));
    this.hold = { matches, stage, held, release: released, clientGone };
    return { held: heldPromise, clientGone: gonePromise, release };
  }

  /**
   * From now on, holds every request that matches (others go on) until heal(): a path that
   * loses some requests for a while and delivers them long afterwards, as a network that heals
   * or an L7 proxy that replays requests once the server is back.
   */
  partitionRequests(matches: RequestMatch): void {
    this.partition = { matches, held: [] };
  }

  /**
   * New requests go on at once. The clients still waiting on held requests get their
   * connection reset (the path gives up on them, as an L7 proxy does on its client), and every
   * held request is delivered `backlogDelayMs` later all the same. Resolves once the server
   * answered them all, with how many got each answer (`DELETE 204`, `PUT 412`, ...).
   */
  async heal(backlogDelayMs: number): Promise<Record<string, number>> {
    const held = this.partition?.held ?? [];
    this.partition = undefined;
    for (const { res } of held) res.destroy();
    await new Promise((resolve) => setTimeout(resolve, backlogDelayMs));
    const answers = await Promise.all(held.map(({ deliver }) => deliver()));
    const counts: Record<string, number> = {};
    for (const answer of answers) counts[answer] = (counts[answer] ?? 0) + 1;
    return counts;
  }

  /**
   * Sends the request on; its answer goes back to the client if it is still there (with a
   * response hold: once the server has answered in full and the hold is released, as from the
   * socket of a frozen client).
   */
  private forward(
    req: http.IncomingMessage,
    body: Buffer,
    res: http.ServerResponse,
    hold?: Hold,
    onAnswer?: (status: number | 'error') => void,
  ): void {
    const headers = { ...req.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    this.log.push(`${req.method ?? '?'} ${req.url ?? ''}`);
    const upstream = http.request(
      { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        onAnswer?.(answer.statusCode ?? 502);
        const reply = (body: Buffer) => {
          if (res.destroyed) return;
          const answerHeaders = { ...answer.headers, 'content-length': String(body.length) };
          delete answerHeaders['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, answerHeaders);
          res.end(body);
        };
        if (hold) {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => {
            hold.held();
            void hold.release.then(() => reply(Buffer.concat(chunks)));
          });
          return;
        }
        if (res.destroyed) {
          answer.resume();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      onAnswer?.('error');
      res.destroy();
    });
    upstream.end(body);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

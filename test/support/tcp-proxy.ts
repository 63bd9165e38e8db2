import net from 'node:net';

/**
 * A loopback TCP proxy that a test can cut and restore, to make a real server unreachable.
 * With `bytesPerSecond` it is also a slow link: what clients send to the server (all
 * connections together) is held to that rate, so a copy lasts seconds rather than the local
 * disk's fraction of one.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private budget?: { bytes: number; reached: () => void };
  private corruption?: { bytes: number; done: () => void };
  private nextFree = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly bytesPerSecond?: number,
  ) {}

  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      // Written by hand rather than piped: a pipe resumes the client on the upstream's
      // 'drain', which would undo the slow link's pause.
      client.on('data', (chunk: Buffer) => {
        upstream.write(this.corrupt(chunk));
        this.count(chunk.length);
        this.throttle(client, chunk.length);
      });
      upstream.pipe(client);
      client.on('end', () => upstream.end());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /**
   * Cuts (as cut() does) once `bytes` more bytes went from clients to the server: a
   * deterministic way to break a transfer part-way. Resolves when the cut happened.
   */
  cutAfterBytes(bytes: number): Promise<void> {
    return new Promise((resolve) => {
      this.budget = { bytes, reached: resolve };
    });
  }

  /**
   * Flips one bit of the byte that comes `bytes` bytes from now on the way from clients to the
   * server (the connection stays up): bytes damaged in transit, which only a checksum can
   * catch. Resolves once the byte went through.
   */
  corruptAfterBytes(bytes: number): Promise<void> {
    return new Promise((resolve) => {
      this.corruption = { bytes, done: resolve };
    });
  }

  private corrupt(chunk: Buffer): Buffer {
    const corruption = this.corruption;
    if (!corruption) return chunk;
    if (corruption.bytes >= chunk.length) {
      corruption.bytes -= chunk.length;
      return chunk;
    }
    const damaged = Buffer.from(chunk);
    damaged[corruption.bytes] = damaged[corruption.bytes]! ^ 0x01;
    this.corruption = undefined;
    corruption.done();
    return damaged;
  }

  private throttle(client: net.Socket, bytes: number): void {
    if (!this.bytesPerSecond) return;
    const now = Date.now();
    this.nextFree = Math.max(this.nextFree, now) + (bytes / this.bytesPerSecond) * 1000;
    const wait = this.nextFree - now;
    if (wait > 5) {
      client.pause();
      setTimeout(() => client.resume(), wait);
    }
  }

  private count(bytes: number): void {
    if (!this.budget) return;
    this.budget.bytes -= bytes;
    if (this.budget.bytes > 0) return;
    const { reached } = this.budget;
    this.budget = undefined;
    void this.cut().then(reached);
  }

  /** Refuses new connections and drops the open ones. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  get endpoint(): string {
    return `http://${this.address}`;
  }

  /** Closes the proxy for good (as cut() does). */
  close(): Promise<void> {
    return this.cut();
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
}

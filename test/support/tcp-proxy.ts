import net from 'node:net';

/** A loopback TCP proxy that a test can cut and restore, to make a real server unreachable. */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private budget?: { bytes: number; reached: () => void };
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.on('data', (chunk: Buffer) => this.count(chunk.length));
      client.pipe(upstream).pipe(client);
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

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
}

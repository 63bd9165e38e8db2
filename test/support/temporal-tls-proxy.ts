/**
 * A Temporal frontend with TLS, mutual TLS and API keys, for the tests: the Temporal CLI dev
 * server (v1.5.1) cannot serve TLS, so this HTTP/2 proxy terminates TLS in front of it, the
 * way a load balancer or Temporal Cloud's edge does. It requires a client certificate signed
 * by `clientCa` (when given), and answers UNAUTHENTICATED to every call whose
 * `authorization` header is not `Bearer <the expected API key>` (when one is expected). Each
 * gRPC call is forwarded as its own HTTP/2 stream (headers, messages, trailers, cancellation),
 * so the engine's clients (grpc-js) and the worker's Rust core see a real TLS frontend.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { answerGrpcError, forwardGrpcCall, upstreamSession } from './grpc-forward';

export interface TemporalTlsProxyOptions {
  /** The plaintext frontend, host:port. */
  upstream: string;
  /** The proxy's server certificate and key (PEM). */
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: Buffer;
  /** The API keys a call may carry, read at each call (two during a rotation); undefined: none required. */
  acceptedApiKeys?: () => readonly string[] | undefined;
}

export class TemporalTlsProxy {
  /** host:port of the TLS frontend. */
  address = '';
  /** Calls forwarded, by user agent and API key presented ('' when none): the keys stay in memory only. */
  private readonly calls = new Map<string, number>();
  /** Calls refused for a missing or wrong API key. */
  refused = 0;
  /** Client certificates' subjects seen on accepted connections. */
  readonly clientSubjects = new Set<string>();
  private readonly upstream: ReturnType<typeof upstreamSession>;
  private readonly server: http2.Http2SecureServer;
  private readonly openSockets = new Set<TLSSocket>();

  private constructor(private readonly options: TemporalTlsProxyOptions) {
    this.upstream = upstreamSession(options.upstream);
    this.server = http2.createSecureServer({
      cert: options.cert,
      key: options.key,
      ALPNProtocols: ['h2'],
      ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      this.openSockets.add(socket);
      socket.on('close', () => this.openSockets.delete(socket));
      const subject = socket.getPeerCertificate()?.subject?.CN;
      if (subject) this.clientSubjects.add(String(subject));
    });
    this.server.on('sessionError', () => undefined);
    this.server.on('stream', (stream, headers) => this.forward(stream, headers));
  }

  static async start(options: TemporalTlsProxyOptions): Promise<TemporalTlsProxy> {
    const proxy = new TemporalTlsProxy(options);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.address = `127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
    return proxy;
  }

  /** Calls carrying this API key so far, from clients whose user agent matches (grpc-node-js: the clients; else the worker's core). */
  callsWith(apiKey: string, userAgent: RegExp = /./): number {
    let n = 0;
    for (const [k, count] of this.calls) {
      const [agent, key] = k.split('\0') as [string, string];
      if (key === apiKey && userAgent.test(agent)) n += count;
    }
    return n;
  }

  private forward(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const authorization = headers.authorization;
    const presented = typeof authorization === 'string' ? authorization.replace(/^Bearer /i, '') : '';
    const accepted = this.options.acceptedApiKeys?.();
    if (accepted !== undefined && !accepted.includes(presented)) {
      this.refused += 1;
      answerGrpcError(stream, 16, presented ? 'API key not accepted' : 'API key required');
      return;
    }
    const callKey = `${String(headers['user-agent'] ?? '')}\0${presented}`;
    this.calls.set(callKey, (this.calls.get(callKey) ?? 0) + 1);

    forwardGrpcCall(this.upstream.get, stream, headers);
  }

  async close(): Promise<void> {
    this.upstream.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // Open sessions (workers' long polls) would keep the server open.
      for (const socket of this.openSockets) socket.destroy();
    });
  }
}

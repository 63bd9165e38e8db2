/**
 * A plaintext gRPC proxy in front of the Temporal dev server that refuses chosen
 * signal-with-start calls the way Temporal refuses them while a run is closing on a crashed
 * worker: RESOURCE_EXHAUSTED, "workflow is closing" (BUSY_WORKFLOW), for as long as the test
 * wants. Every other call, and those calls once lifted, reach the real server unchanged.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { answerGrpcError, forwardGrpcCall, upstreamSession } from './grpc-forward';

const SIGNAL_WITH_START = '/temporal.api.workflowservice.v1.WorkflowService/SignalWithStartWorkflowExecution';
const RESOURCE_EXHAUSTED = 8;

export class TemporalRefusingProxy {
  /** host:port to give the client instead of the server's. */
  address = '';
  /** Calls refused so far. */
  refusedCalls = 0;
  private readonly refusals = new Set<string>();
  private readonly upstream: ReturnType<typeof upstreamSession>;
  private readonly server: http2.Http2Server;
  private readonly sockets = new Set<Socket>();

  private constructor(upstreamAddress: string) {
    this.upstream = upstreamSession(upstreamAddress);
    this.server = http2.createServer();
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('sessionError', () => undefined);
    this.server.on('stream', (stream, headers) => this.forward(stream, headers));
  }

  static async start(upstream: string): Promise<TemporalRefusingProxy> {
    const proxy = new TemporalRefusingProxy(upstream);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.address = `127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
    return proxy;
  }

  /** Refuses every signal-with-start to this workflow id until the returned function is called. */
  refuse(workflowId: string): () => void {
    this.refusals.add(workflowId);
    return () => this.refusals.delete(workflowId);
  }

  private forward(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    if (headers[':path'] !== SIGNAL_WITH_START || this.refusals.size === 0) {
      forwardGrpcCall(this.upstream.get, stream, headers);
      return;
    }
    // The request is one small message: read it whole to see which workflow it is for.
    const parts: Buffer[] = [];
    stream.on('data', (part: Buffer) => parts.push(part));
    stream.on('end', () => {
      const body = Buffer.concat(parts);
      for (const workflowId of this.refusals) {
        if (body.includes(Buffer.from(workflowId))) {
          this.refusedCalls += 1;
          answerGrpcError(
            stream,
            RESOURCE_EXHAUSTED,
            'workflow operation can not be applied because workflow is closing',
          );
          return;
        }
      }
      forwardGrpcCall(this.upstream.get, stream, headers, body);
    });
  }

  async close(): Promise<void> {
    this.upstream.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}

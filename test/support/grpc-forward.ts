/**
 * Forwards one gRPC call (one HTTP/2 stream) to an upstream session: headers, messages,
 * trailers and cancellation. The test proxies in front of Temporal share it.
 */
import http2 from 'node:http2';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/**
 * `body`: the request's messages when the caller already read them (to look inside); the
 * stream is piped otherwise.
 */
export function forwardGrpcCall(
  upstream: () => http2.ClientHttp2Session,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  body?: Buffer,
): void {
  const outgoing: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && name !== 'connection') outgoing[name] = value;
  }
  let up: http2.ClientHttp2Stream;
  try {
    up = upstream().request(outgoing);
  } catch {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  up.on('error', () => undefined);
  let trailers: http2.IncomingHttpHeaders | undefined;
  up.on('trailers', (t) => {
    trailers = t;
  });
  up.on('response', (responseHeaders) => {
    const clean = withoutPseudo(responseHeaders, [':status']);
    if ('grpc-status' in responseHeaders) {
      // Trailers-only answer (an error without messages).
      stream.respond(clean, { endStream: true });
      up.resume();
      return;
    }
    stream.respond(clean, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(withoutPseudo(trailers ?? {}, [])));
    up.pipe(stream);
  });
  if (body) up.end(body);
  else stream.pipe(up);
  stream.on('close', () => {
    if (!up.closed) up.close(NGHTTP2_CANCEL);
  });
  up.on('close', () => {
    if (!stream.closed && up.rstCode !== undefined && up.rstCode !== NGHTTP2_NO_ERROR)
      stream.close(up.rstCode);
  });
}

/**
 * One HTTP/2 session to `address`, opened on first use and again after it closed: the
 * `upstream` argument of forwardGrpcCall, and `destroy` for the proxy's close.
 */
export function upstreamSession(address: string): {
  get: () => http2.ClientHttp2Session;
  destroy: () => void;
} {
  let current: http2.ClientHttp2Session | undefined;
  return {
    get: () => {
      if (!current || current.closed || current.destroyed) {
        const session = http2.connect(`http://${address}`);
        session.on('error', () => undefined);
        session.on('close', () => {
          if (current === session) current = undefined;
        });
        current = session;
      }
      return current;
    },
    destroy: () => current?.destroy(),
  };
}

/** Answers the call at once with a gRPC error (a trailers-only response). */
export function answerGrpcError(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(code),
      'grpc-message': encodeURIComponent(message),
    },
    { endStream: true },
  );
}

function withoutPseudo(headers: http2.IncomingHttpHeaders, keep: string[]): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (name.startsWith(':') && !keep.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

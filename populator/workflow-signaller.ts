export {
  replicationSettings,
  signalReplicationTasks,
  tasksBySignal,
  type KeySignals,
} from '../clients/replication-signals';

/**
 * How the populator treats a failed request to Temporal:
 * - `unavailable`: Temporal as a whole cannot be used (unreachable, timing out, unknown
 *   namespace, credentials): consumption waits with backoff and skips nothing.
 * - `refused`: this request, for this key, was refused (throttled, busy workflow, a
 *   per-workflow limit, an internal error): bounded retries, then the tasks are dead-lettered.
 * - `permanent`: the request itself is invalid: dead-lettered at once.
 */
export type TemporalErrorClass = 'unavailable' | 'refused' | 'permanent';

const GRPC = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const GRPC_NAMES = Object.fromEntries(Object.entries(GRPC).map(([name, code]) => [code, name]));

interface GrpcLike {
  code?: unknown;
  details?: unknown;
  message?: unknown;
  cause?: GrpcLike;
}

function grpcCode(err: unknown): number | undefined {
  let current = err as GrpcLike | undefined;
  for (let depth = 0; current && depth < 4; depth++, current = current.cause) {
    if (typeof current.code === 'number') return current.code;
  }
  return undefined;
}

/** The server's own words, e.g. "RESOURCE_EXHAUSTED: namespace rate limit exceeded". */
export function describeTemporalError(err: unknown): string {
  const parts: string[] = [];
  let current = err as GrpcLike | undefined;
  for (let depth = 0; current && depth < 4; depth++, current = current.cause) {
    // The gRPC error's details say it best; the client's wrapper only says what it was doing.
    if (typeof current.code === 'number' && typeof current.details === 'string' && current.details) {
      parts.length = 0;
      parts.push(current.details);
      break;
    }
    if (typeof current.message === 'string' && current.message && !parts.includes(current.message))
      parts.push(current.message);
  }
  const code = grpcCode(err);
  const name = code === undefined ? undefined : GRPC_NAMES[code];
  return `${name ? `${name}: ` : ''}${parts.join(': ') || String(err)}`.slice(0, 1000);
}

export function classifyTemporalError(err: unknown): TemporalErrorClass {
  const code = grpcCode(err);
  switch (code) {
    case undefined: // no answer from the server: connection refused, reset, DNS
    case GRPC.UNAVAILABLE:
    case GRPC.DEADLINE_EXCEEDED:
    case GRPC.CANCELLED:
    case GRPC.NOT_FOUND: // namespace not found
    case GRPC.PERMISSION_DENIED:
    case GRPC.UNAUTHENTICATED:
    case GRPC.UNIMPLEMENTED:
      return 'unavailable';
    case GRPC.INVALID_ARGUMENT:
      // Temporal reports the per-workflow signal limit as an invalid argument ("exceeded
      // workflow execution limit for signal events"); the next run (continue-as-new) accepts.
      return /workflow execution limit/i.test(describeTemporalError(err)) ? 'refused' : 'permanent';
    case GRPC.OUT_OF_RANGE:
      return 'permanent';
    default:
      return 'refused';
  }
}

/** Temporal refused the request itself (bad id, payload too large): retrying cannot help. */
export function isPermanentTemporalError(err: unknown): boolean {
  return classifyTemporalError(err) === 'permanent';
}

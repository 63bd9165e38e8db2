/**
 * Writes that expire in flight. S3 cannot make a delete marker, a tag set or a server-side
 * copy conditional on the target's state (MinIO ignores If-Match on DELETE), and the fence of
 * a PUT (write-fence.ts) cannot tell a version from one with the same bytes, so such a write
 * lands whenever it reaches the target: a request held in a frozen server's socket buffer,
 * a retransmitted segment after a network partition heals, or one sent by a worker frozen or
 * killed after signing it, can arrive after another attempt replicated newer changes, and
 * undo them. The one server-side bound S3 gives on when a request may still act is a
 * query-string (presigned) SigV4 signature: the server refuses it once `X-Amz-Expires`
 * seconds have passed since `X-Amz-Date`, by its own clock. These writes are therefore
 * signed that way, valid for WRITE_TTL_SECONDS, dated by the target's clock as the SDK
 * measures it from every answer's Date header.
 *
 * A write whose answer never came (aborted, reset, timed out) may still act until then, so
 * the attempt that sent it keeps its key (key-gate.ts) until its signature has expired.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type {
  AwsCredentialIdentity,
  HttpRequest,
  FinalizeHandler,
  FinalizeHandlerArguments,
  HandlerExecutionContext,
  MetadataBearer,
  RequestPresigner,
} from '@smithy/types';
import { statusCode, WRITE_EXPIRED } from './s3-errors';

/**
 * How long a write stays valid after it is signed. Another worker takes a key over no
 * sooner than 0.2 × the heartbeat timeout after the last write it could have signed (the
 * SDK sends heartbeats every 0.8 × that timeout; 15 s: 3 s) and 0.2 × the workflow task
 * timeout for local activities (30 s: 6 s), and then it reads the target first; a write of
 * the earlier worker is dead by then. test/unit/expiring-writes.test.ts holds this bound.
 */
export const WRITE_TTL_SECONDS = 3;

/** Thrown for a write that reached the target after its signature expired: it did not act. */
export class WriteExpired extends Error {
  readonly Code = WRITE_EXPIRED;
  constructor(
    message: string,
    readonly $metadata: MetadataBearer['$metadata'],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = WRITE_EXPIRED;
  }
}

export function isWriteExpired(err: unknown): err is WriteExpired {
  return (err as { name?: string })?.name === WRITE_EXPIRED;
}

/**
 * The writes of one attempt that got no answer, by when their signatures expire
 * (`performance.now()`, which runs on while the process is stopped).
 */
export class UnansweredWrites {
  private expiresAt = 0;

  noteUnanswered(expiresAt: number): void {
    this.expiresAt = Math.max(this.expiresAt, expiresAt);
  }

  /** How long until every unanswered write has expired (0: none can still act). */
  remainingMs(now = performance.now()): number {
    return Math.max(0, this.expiresAt - now);
  }

  /** Resolves once no unanswered write can still act on the target. */
  async settled(): Promise<void> {
    for (let wait = this.remainingMs(); wait > 0; wait = this.remainingMs()) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

interface SigningConfig {
  signer: (authScheme?: unknown) => Promise<
    RequestPresigner & {
      presignWithCredentials?: (
        request: HttpRequest,
        credentials: AwsCredentialIdentity,
        options: Parameters<RequestPresigner['presign']>[1],
      ) => Promise<HttpRequest>;
    }
  >;
  systemClockOffset?: number;
}

/** Headers of a header-signed request that a query-string signature carries in the query instead. */
const HEADER_AUTH = new Set(['authorization', 'x-amz-date', 'x-amz-security-token']);

/**
 * Re-signs a command's request (already signed with an Authorization header) with a
 * query-string signature valid for `ttlSeconds`, and notes in `unanswered` when it gets no
 * answer. Added after the SDK's signing step, so retries would be re-signed too.
 */
function expiringSignature(config: SigningConfig, ttlSeconds: number, unanswered: UnansweredWrites) {
  return (next: FinalizeHandler<object, MetadataBearer>, context: HandlerExecutionContext) =>
    async (args: FinalizeHandlerArguments<object>) => {
      const signed = args.request as HttpRequest;
      const bare: HttpRequest = { ...signed, headers: { ...signed.headers }, query: { ...signed.query } };
      for (const name of Object.keys(bare.headers)) {
        if (HEADER_AUTH.has(name.toLowerCase())) delete bare.headers[name];
      }
      // Checksums, copy source and metadata headers stay signed headers: moved into the query
      // they would not be read as what they are.
      const unhoistableHeaders = new Set(
        Object.keys(bare.headers)
          .map((h) => h.toLowerCase())
          .filter((h) => h.startsWith('x-amz-')),
      );
      const authScheme = (context.endpointV2?.properties?.authSchemes as unknown[] | undefined)?.[0];
      const signer = await config.signer(authScheme);
      const scheme = context.selectedHttpAuthScheme;
      const options = {
        expiresIn: ttlSeconds,
        // The target's clock: the SDK takes its offset from every answer's Date header.
        signingDate: new Date(Date.now() + (config.systemClockOffset ?? 0)),
        unhoistableHeaders,
        signingRegion: scheme?.signingProperties?.signingRegion as string | undefined,
        signingService: scheme?.signingProperties?.signingName as string | undefined,
      };
      const identity = scheme?.identity as AwsCredentialIdentity | undefined;
      const presigned =
        identity && signer.presignWithCredentials
          ? await signer.presignWithCredentials(bare, identity, options)
          : await signer.presign(bare, options);
      const sentAt = performance.now();
      try {
        return await next({ ...args, request: presigned });
      } catch (err) {
        const status = statusCode(err);
        if (status === undefined) {
          // No answer: the request may be on its way still, and act until it expires.
          unanswered.noteUnanswered(sentAt + ttlSeconds * 1000);
        } else if (status === 403 && isExpiryRefusal(err, sentAt, ttlSeconds)) {
          throw new WriteExpired(
            `the write reached the target more than ${ttlSeconds} s after it was signed and was refused, so it did not act (a slow network or target, or the target's clock moved since its last answer)`,
            (err as MetadataBearer).$metadata,
            { cause: err },
          );
        }
        throw err;
      }
    };
}

/**
 * MinIO and AWS answer AccessDenied "Request has expired". Another store's 403 that came after
 * the lifetime is taken as one too, unless it says the access itself is denied (a policy).
 */
function isExpiryRefusal(err: unknown, sentAt: number, ttlSeconds: number): boolean {
  const message = (err as Error)?.message ?? '';
  if (/expired/i.test(message)) return true;
  return !/access denied/i.test(message) && performance.now() - sentAt >= ttlSeconds * 1000;
}

const MIDDLEWARE_NAME = 'crrExpiringSignature';

/** Makes `command`, sent through `client`, expire WRITE_TTL_SECONDS after it is signed. Idempotent per command. */
export function makeExpiring<C extends { middlewareStack: { identify(): string[] } }>(
  client: S3Client,
  command: C,
  unanswered: UnansweredWrites,
  ttlSeconds = WRITE_TTL_SECONDS,
): C {
  const stack = (command as unknown as { middlewareStack: S3Client['middlewareStack'] }).middlewareStack;
  if (stack.identify().some((entry) => entry.startsWith(MIDDLEWARE_NAME))) return command;
  stack.addRelativeTo(
    expiringSignature(client.config as unknown as SigningConfig, ttlSeconds, unanswered) as never,
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: MIDDLEWARE_NAME },
  );
  return command;
}

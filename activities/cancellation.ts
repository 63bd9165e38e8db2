import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { makeExpiring, type UnansweredWrites } from '../clients/s3-expiring-writes';

/**
 * The writes S3 cannot make conditional on the target's state: a late one would act on
 * whatever the target holds when it arrives, so they expire in flight (s3-expiring-writes.ts).
 * PUTs and multipart completions are fenced instead (write-fence.ts).
 */
const UNCONDITIONAL_WRITES = [
  DeleteObjectCommand,
  PutObjectTaggingCommand,
  DeleteObjectTaggingCommand,
  CopyObjectCommand,
] as const;

/**
 * The same client, with every request of one activity attempt bound to its cancellation:
 * once Temporal times the attempt out or cancels it, its requests in flight are aborted
 * instead of going on beside the next attempt (key-gate.ts waits for them to end). Its
 * unconditional writes expire in flight, and those left unanswered are noted in
 * `unanswered`, which key-gate.ts waits out too.
 */
export function cancellableClient(
  client: S3Client,
  signal: AbortSignal,
  unanswered: UnansweredWrites,
): S3Client {
  const send = ((command: Parameters<S3Client['send']>[0], options?: { abortSignal?: AbortSignal }) =>
    client.send(
      (UNCONDITIONAL_WRITES.some((write) => command instanceof write)
        ? makeExpiring(client, command, unanswered)
        : command) as never,
      {
        ...options,
        // A request's own signal (a diagnosis's time limit) ends it too.
        abortSignal: options?.abortSignal ? AbortSignal.any([options.abortSignal, signal]) : signal,
      },
    )) as S3Client['send'];
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'send') return send;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

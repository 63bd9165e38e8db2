import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { makeExpiring, type UnansweredWrites } from '../clients/s3-expiring-writes';

/**
 * The writes that change what the target's history shows. They expire in flight
 * (s3-expiring-writes.ts), so one delivered late cannot act on whatever the target holds when
 * it arrives: the delete markers, tag sets and restoring copies S3 cannot make conditional,
 * and the fenced PUTs and multipart completions (write-fence.ts), whose fence cannot tell a
 * version from one with the same bytes. Parts are invisible until completed, and a version
 * delete (of the engine's own stray marker) has the same effect whenever it arrives.
 */
const EXPIRING_WRITES = [
  PutObjectCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectTaggingCommand,
  DeleteObjectTaggingCommand,
  CopyObjectCommand,
] as const;

function expires(command: object): boolean {
  if (command instanceof DeleteObjectCommand && command.input.VersionId !== undefined) return false;
  return EXPIRING_WRITES.some((write) => command instanceof write);
}

/**
 * The same client, with every request of one activity attempt bound to its cancellation:
 * once Temporal times the attempt out or cancels it, its requests in flight are aborted
 * instead of going on beside the next attempt (key-gate.ts waits for them to end). Its
 * writes expire in flight, and those left unanswered are noted in `unanswered`, which
 * key-gate.ts waits out too.
 */
export function cancellableClient(
  client: S3Client,
  signal: AbortSignal,
  unanswered: UnansweredWrites,
): S3Client {
  const send = ((command: Parameters<S3Client['send']>[0], options?: { abortSignal?: AbortSignal }) =>
    client.send((expires(command) ? makeExpiring(client, command, unanswered) : command) as never, {
      ...options,
      // A request's own signal (a diagnosis's time limit) ends it too.
      abortSignal: options?.abortSignal ? AbortSignal.any([options.abortSignal, signal]) : signal,
    })) as S3Client['send'];
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'send') return send;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

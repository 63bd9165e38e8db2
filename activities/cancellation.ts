import type { S3Client } from '@aws-sdk/client-s3';

/**
 * The same client, with every request of one activity attempt bound to its cancellation:
 * once Temporal times the attempt out or cancels it, its requests in flight are aborted
 * instead of going on beside the next attempt (key-gate.ts waits for them to end).
 */
export function cancellableClient(client: S3Client, signal: AbortSignal): S3Client {
  const send = ((command: Parameters<S3Client['send']>[0], options?: { abortSignal?: AbortSignal }) =>
    client.send(command as never, {
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

/**
 * One attempt at a time per target key in this process. An attempt that Temporal timed out
 * (a local activity past its start-to-close, a run evicted after a failed workflow task, a
 * regular activity past its heartbeat timeout) is not stopped by the timeout: it goes on in
 * the worker while the next attempt of the same change starts. Both would then find the
 * replica missing and both write it. The next attempt therefore waits here until every
 * earlier attempt on the key has settled (they abort their requests once cancelled, see
 * cancellation.ts), and then judges the target from what they left.
 */
export class KeyGate {
  private readonly tails = new Map<string, Promise<void>>();

  /** Keys with an attempt running or waiting. */
  get size(): number {
    return this.tails.size;
  }

  /**
   * Runs `work` once the earlier attempts on `key` have settled. `onWait` is called when it
   * has to wait; `signal` (the attempt's cancellation) ends the wait with its reason. After
   * `work`, the key stays held until `settled` resolves: writes of the attempt that got no
   * answer may still act on the target until they expire (clients/s3-expiring-writes.ts).
   */
  async run<T>(
    key: string,
    signal: AbortSignal,
    work: () => Promise<T>,
    { onWait, settled }: { onWait?: () => void; settled?: () => Promise<void> } = {},
  ): Promise<T> {
    const before = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    // Later attempts wait for this one and for everything before it, even if this one stops waiting.
    const tail = before ? before.then(() => mine) : mine;
    this.tails.set(key, tail);
    try {
      if (before) {
        onWait?.();
        await untilSettledOrAborted(before, signal);
      }
      return await work();
    } finally {
      const done = () => {
        release();
        if (this.tails.get(key) === tail) this.tails.delete(key);
      };
      // The attempt's own result is not delayed; only the next attempt on the key waits.
      if (settled) void settled().then(done, done);
      else done();
    }
  }
}

function untilSettledOrAborted(settled: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    void settled.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('cancelled while waiting for an earlier attempt on the same key');
}

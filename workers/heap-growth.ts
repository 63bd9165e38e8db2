import type { Logger } from 'pino';
import { heapGrowthIsOurs, setHeapGrowingPercent } from '../shared/v8-heap';

/**
 * How far V8 lets the worker's old generation grow between full collections, set from what
 * the worker copies.
 *
 * By default V8 lets the old generation grow to about four times what survived the last full
 * collection (the factor it picks from a 4 GiB heap limit). A worker replicating small
 * objects keeps little alive (W1: about 45 MB) but promotes what waits on the network, so
 * garbage piles up to about 175 MB before a collection: most of W1's peak RSS over 256 MiB.
 * `--heap-growing-percent=50` keeps the old generation at 1.5 times what is alive, for about
 * 1 CPU-ms more per small object (a full collection every second or two). Large streaming
 * copies need the room: with the flag, W2's worker CPU per 256 MiB object doubled (a full
 * collection every 100 ms, each sweeping the copies' socket buffers). No one flag value fits
 * both (docs/BENCHMARKS.md, "Worker RSS").
 *
 * So the worker sets the flag while the copies it streams add up to less than
 * `streamingBytes`, and leaves V8 its own factor while they add up to more, and for
 * `settleMs` after, so that the gaps between large copies do not flip it back and forth.
 * V8 reads the flag at every full collection (`MemoryController::GrowingFactor`): a change
 * takes effect at the next one, in every isolate of the process (the workflow threads too).
 * The flag is one aligned integer that the workflow threads' collectors may read while the
 * main thread writes it: either value is a valid growth, so the race cannot do harm.
 */
export interface HeapGrowthOptions {
  /** The old generation's growth while the worker streams little, in percent (above 0). */
  tightPercent: number;
  /** Bytes of copies in progress from which V8 chooses its own growth. */
  streamingBytes: number;
  /** How long the copies in progress must stay under `streamingBytes` before the flag is set again. */
  settleMs: number;
  /** Sets V8's `--heap-growing-percent` (shared/v8-heap.ts); a test passes its own. */
  setPercent?: (percent: number) => void;
}

export type HeapGrowthMode = 'tight' | 'v8';

export class HeapGrowthPolicy {
  private inProgress = 0;
  private current: HeapGrowthMode | undefined;
  private settle: NodeJS.Timeout | undefined;
  private readonly setPercent: (percent: number) => void;

  constructor(
    private readonly options: HeapGrowthOptions,
    private readonly onChange?: (mode: HeapGrowthMode, bytesInProgress: number) => void,
  ) {
    if (!(options.tightPercent > 0))
      throw new Error(`tightPercent must be above 0, got ${options.tightPercent}`);
    this.setPercent = options.setPercent ?? setHeapGrowingPercent;
    this.apply('tight');
  }

  get mode(): HeapGrowthMode {
    return this.current!;
  }

  /** A copy of `bytes` starts streaming; call the returned function (once) when it ends, however it ends. */
  copyStarted(bytes: number): () => void {
    const counted = Math.max(0, bytes);
    this.inProgress += counted;
    if (this.inProgress >= this.options.streamingBytes) {
      this.cancelSettle();
      this.apply('v8');
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inProgress -= counted;
      if (this.current === 'v8' && this.inProgress < this.options.streamingBytes && !this.settle) {
        this.settle = setTimeout(() => {
          this.settle = undefined;
          if (this.inProgress < this.options.streamingBytes) this.apply('tight');
        }, this.options.settleMs);
        this.settle.unref();
      }
    };
  }

  private cancelSettle(): void {
    if (this.settle) clearTimeout(this.settle);
    this.settle = undefined;
  }

  private apply(mode: HeapGrowthMode): void {
    if (this.current === mode) return;
    this.current = mode;
    // 0 is V8's "not set": its own factor, from the heap limit and the collector's speed.
    this.setPercent(mode === 'tight' ? this.options.tightPercent : 0);
    this.onChange?.(mode, this.inProgress);
  }
}

/**
 * The worker process's policy from its config, or none: when `tightPercent` is 0, or when the
 * operator gave node its own `--heap-growing-percent` (`heapGrowthIsOurs`).
 */
export function heapGrowthPolicyFor(
  config: Omit<HeapGrowthOptions, 'setPercent'>,
  logger: Pick<Logger, 'info' | 'debug'>,
): HeapGrowthPolicy | undefined {
  if (!heapGrowthIsOurs(config.tightPercent, 'worker.heapGrowth.tightPercent', logger)) return undefined;
  logger.info(
    { heapGrowth: config },
    `old generation kept to ${config.tightPercent}% growth while copies in progress add up to less than ${sizeOf(config.streamingBytes)}`,
  );
  return new HeapGrowthPolicy(config, (mode, bytesInProgress) =>
    logger.debug({ heapGrowth: mode, bytesInProgress }, 'heap growth changed'),
  );
}

const MiB = 1024 * 1024;
const sizeOf = (bytes: number) => (bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${bytes} bytes`);

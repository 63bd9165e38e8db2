import type { Logger } from 'pino';
import type { KeyJob, KeyLanes } from './chunk-processor';

/** How a lane reaches its partition in Kafka (kafkajs, through the batch payloads). */
export interface LaneKafka {
  /** Commits `next`: the offset after the last message of every chunk done, in order. */
  commit(next: string): Promise<void>;
  /** Fetches the partition again from `offset` (a chunk failed: it and what follows are redelivered). */
  seek(offset: string): void;
}

export interface LaneChunk {
  /** Offset of the chunk's first message. */
  first: string;
  /** Offset after its last message (what a commit of this chunk writes). */
  next: string;
}

type ChunkState = 'running' | 'done' | 'stopped' | 'failed';

/** Runs a chunk; calls `handedOff` once the lane may go on without it (processChunk's contract). */
export type ChunkRun = (keys: KeyLanes, handedOff: () => void) => Promise<{ completed: boolean }>;

/**
 * One partition's work within one consumer-group generation. Batches run one at a time and
 * chunks in journal order, but a chunk whose slow keys were handed off (processChunk) goes on
 * in the background while the next ones run: one key that Temporal refuses for a while (a run
 * closing on a crashed worker) no longer holds its whole partition. Later tasks of that key
 * queue behind it (`keys`), so each key keeps journal order. Offsets are committed only up to
 * the oldest chunk not done, so a crash or rebalance redelivers every unfinished chunk.
 */
export class PartitionLane {
  readonly keys: KeyLanes;
  private readonly chunks: Array<LaneChunk & { state: ChunkState }> = [];
  private readonly background = new Set<Promise<void>>();
  private queue: Promise<void>;
  private batches = 0;
  /** Commits go out one after the other, so a lower offset never lands after a higher one. */
  private committing: Promise<void> = Promise.resolve();
  private recovery: Promise<void> | undefined;

  constructor(
    readonly generation: number,
    private readonly options: {
      parkAfterMs: number;
      parkedChunksMax: number;
      /** While true, slow keys are not handed off (see KeyLanes). */
      holdHandOff?: () => boolean;
      kafka: LaneKafka;
      logger: Logger;
      /** Whether this lane's generation is still the consumer's (commits and seeks stop when not). */
      current: () => boolean;
    },
    previous?: PartitionLane,
  ) {
    this.keys = {
      tails: new Map<string, KeyJob>(),
      parkAfterMs: options.parkAfterMs,
      holdHandOff: options.holdHandOff,
    };
    // A previous lane of the partition (older generation, or one that failed) winds down first.
    this.queue = previous ? previous.idle() : Promise.resolve();
  }

  /** A chunk failed: the lane takes no more work and is replaced once it has wound down. */
  get failed(): boolean {
    return this.recovery !== undefined;
  }

  /** Whether the lane has a batch or chunks in progress (the group is heartbeated meanwhile). */
  busy(): boolean {
    return this.batches > 0 || this.background.size > 0;
  }

  /** Runs `work` after the lane's earlier batches: one batch of a partition at a time. */
  enqueue(work: () => Promise<void>): Promise<void> {
    this.batches++;
    const run = this.queue.then(work).finally(() => this.batches--);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every batch and background chunk of the lane has ended (and a failure was handled). */
  async idle(): Promise<void> {
    await this.queue;
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    await this.recovery;
  }

  /**
   * Starts a chunk and returns once it is handed off: done, or left to finish in the
   * background. Waits first while `parkedChunksMax` chunks are already in the background.
   */
  async run(chunk: LaneChunk, runChunk: ChunkRun): Promise<void> {
    while (this.background.size >= this.options.parkedChunksMax && !this.failed) {
      await Promise.race(this.background);
    }
    const record = { ...chunk, state: 'running' as ChunkState };
    this.chunks.push(record);
    let handOff!: () => void;
    const handedOff = new Promise<void>((resolve) => (handOff = resolve));
    const finished = runChunk(this.keys, handOff)
      .then(
        ({ completed }) => {
          record.state = completed ? 'done' : 'stopped';
        },
        (err: unknown) => {
          record.state = 'failed';
          this.options.logger.error(
            { first: record.first, err: err instanceof Error ? err.message : String(err) },
            'journal chunk failed: the partition is fetched again from the oldest chunk not done',
          );
        },
      )
      .then(() => this.commitDone())
      .finally(() => {
        this.background.delete(finished);
        if (record.state === 'failed') this.recovery ??= this.recover();
        handOff();
      });
    this.background.add(finished);
    await handedOff;
  }

  /** Commits the chunks done at the head of the lane (never past one still running). */
  private async commitDone(): Promise<void> {
    let next: string | undefined;
    while (this.chunks[0]?.state === 'done') next = this.chunks.shift()!.next;
    if (next === undefined || !this.options.current()) return;
    const offset = next;
    this.committing = this.committing.then(async () => {
      try {
        await this.options.kafka.commit(offset);
      } catch (err) {
        // A later commit covers it, or the chunk is redelivered (harmless: duplicates are dropped).
        this.options.logger.warn({ err: (err as Error).message }, 'could not commit offsets yet');
      }
    });
    await this.committing;
  }

  /** After a failed chunk: once the others have ended, fetch again from the oldest not done. */
  private async recover(): Promise<void> {
    // Chunks still in the background end first (they may complete and be committed).
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    const oldest = this.chunks.find((c) => c.state !== 'done');
    if (oldest && this.options.current()) this.options.kafka.seek(oldest.first);
  }
}

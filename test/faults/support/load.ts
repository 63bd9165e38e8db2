import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

const MiB = 1024 * 1024;

/** Keys S3 allows and replication engines tend to trip on: unicode, spaces, %, +, XML specials, 1 KiB. */
export const ODD_KEYS = [
  'odd/unicode-été-日本語-😀',
  'odd/space in the name .txt',
  'odd/percent%20not-an-escape%',
  'odd/plus+sign+a+b',
  'odd/xml-&-<specials>-"quoted"',
  'odd/trailing-dot.',
  `odd/long/${Array.from({ length: 4 }, (_, i) => `${String(i)}${'λ'.repeat(60)}${'x'.repeat(119)}`).join('/')}/end`,
];

/** `count` keys: a few odd ones and the rest plain, spread over every journal partition. */
export function loadKeys(count: number, prefix = ''): string[] {
  const plain = Array.from(
    { length: Math.max(0, count - ODD_KEYS.length) },
    (_, i) => `keys/${String(i).padStart(4, '0')}`,
  );
  return [...ODD_KEYS, ...plain].slice(0, count).map((k) => `${prefix}${k}`);
}

export interface LoadOp {
  at: number;
  key: string;
  op: 'put' | 'delete';
  versionId?: string;
  size?: number;
  md5?: string;
  ms?: number;
  error?: string;
}

export interface LoadOptions {
  /** Changes per second (default 20). */
  rate?: number;
  /** Share of changes that are deletes of the current object (default 0.2). */
  deleteShare?: number;
  /** Share of puts of 1-4 MiB (default 0.03); the others are 100 B-16 KiB. */
  largeShare?: number;
  maxInFlight?: number;
  /**
   * Keys whose latest is already an object (written before the load): they may be deleted
   * from the start. Other keys are deleted only after the load has put them.
   */
  objects?: Iterable<string>;
}

/** A body of `size` bytes, unique per call (random head), cheap for large sizes. */
function body(size: number): Buffer {
  if (size <= 64 * 1024) return randomBytes(size);
  const block = randomBytes(64 * 1024);
  const out = Buffer.allocUnsafe(size);
  for (let o = 0; o < size; o += block.length) block.copy(out, o, 0, Math.min(block.length, size - o));
  randomBytes(32).copy(out, 0);
  return out;
}

/**
 * A steady load of overwrites and deletes on a set of keys: one change every 1/rate s, never
 * two at once on the same key; a delete only when the key's latest is an object (so that the
 * source never holds two delete markers in a row). Records every change it made.
 */
export class LoadGenerator {
  readonly ops: LoadOp[] = [];
  private timer?: NodeJS.Timeout;
  private readonly busy = new Set<string>();
  private readonly hasObject = new Set<string>();
  private inFlight = new Set<Promise<void>>();
  skipped = 0;
  startedAt = 0;
  stoppedAt = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly keys: string[],
    private readonly options: LoadOptions = {},
  ) {
    const ours = new Set(keys);
    for (const key of options.objects ?? []) if (ours.has(key)) this.hasObject.add(key);
  }

  start(): void {
    const rate = this.options.rate ?? 20;
    this.startedAt = Date.now();
    let due = Date.now();
    const tick = () => {
      // Catch up on missed ticks (timers drift under load) without bursting more than 5 at once.
      const now = Date.now();
      let n = 0;
      while (due <= now && n < 5) {
        this.one();
        due += 1000 / rate;
        n += 1;
      }
      if (due < now - 1000) due = now;
      this.timer = setTimeout(tick, Math.max(1, due - Date.now()));
    };
    tick();
  }

  private one(): void {
    if (this.inFlight.size >= (this.options.maxInFlight ?? 16)) {
      this.skipped += 1;
      return;
    }
    const idle = this.keys.filter((k) => !this.busy.has(k));
    if (idle.length === 0) {
      this.skipped += 1;
      return;
    }
    const key = idle[Math.floor(Math.random() * idle.length)]!;
    const remove = this.hasObject.has(key) && Math.random() < (this.options.deleteShare ?? 0.2);
    this.busy.add(key);
    const op: LoadOp = { at: Date.now(), key, op: remove ? 'delete' : 'put' };
    const work = (async () => {
      try {
        if (remove) {
          const r = await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
          op.versionId = r.VersionId;
          this.hasObject.delete(key);
        } else {
          const large = Math.random() < (this.options.largeShare ?? 0.03);
          const size = large
            ? MiB + Math.floor(Math.random() * 3 * MiB)
            : 100 + Math.floor(Math.random() * 16 * 1024);
          const data = body(size);
          op.size = size;
          op.md5 = createHash('md5').update(data).digest('hex');
          const r = await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data }));
          op.versionId = r.VersionId;
          this.hasObject.add(key);
        }
      } catch (err) {
        op.error = (err as Error).message;
      } finally {
        op.ms = Date.now() - op.at;
        this.ops.push(op);
        this.busy.delete(key);
      }
    })();
    this.inFlight.add(work);
    void work.then(() => this.inFlight.delete(work));
  }

  /** Stops issuing changes and waits for the ones in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
    this.stoppedAt = Date.now();
  }

  /** Every change made, one JSON line each (kept with the scenario's logs). */
  writeLog(file: string): void {
    fs.writeFileSync(file, this.ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
  }

  summary(): {
    puts: number;
    deletes: number;
    errors: number;
    bytes: number;
    seconds: number;
    rate: number;
    skipped: number;
  } {
    const ok = this.ops.filter((o) => !o.error);
    const seconds = ((this.stoppedAt || Date.now()) - this.startedAt) / 1000;
    return {
      puts: ok.filter((o) => o.op === 'put').length,
      deletes: ok.filter((o) => o.op === 'delete').length,
      errors: this.ops.length - ok.length,
      bytes: ok.reduce((n, o) => n + (o.size ?? 0), 0),
      seconds: Math.round(seconds * 10) / 10,
      rate: Math.round((ok.length / Math.max(seconds, 0.001)) * 10) / 10,
      skipped: this.skipped,
    };
  }
}

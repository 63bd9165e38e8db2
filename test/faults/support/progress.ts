import { ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';

/**
 * Samples how many versions and delete markers the target bucket holds, once a second, to
 * tell when replication stalled and when it resumed after a fault.
 */
export class ProgressMonitor {
  readonly samples: Array<{ at: number; count: number }> = [];
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const count = await this.count().catch(() => undefined);
        if (count !== undefined) this.samples.push({ at: Date.now(), count });
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async count(): Promise<number> {
    let n = 0;
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    for (;;) {
      const page = await this.s3.send(
        new ListObjectVersionsCommand({ Bucket: this.bucket, KeyMarker, VersionIdMarker, MaxKeys: 1000 }),
      );
      n += (page.Versions?.length ?? 0) + (page.DeleteMarkers?.length ?? 0);
      if (!page.IsTruncated) return n;
      KeyMarker = page.NextKeyMarker;
      VersionIdMarker = page.NextVersionIdMarker;
    }
  }

  /** First time after `from` that the target grew: replication resumed. */
  firstProgressAfter(from: number): number | undefined {
    const before = [...this.samples].reverse().find((s) => s.at <= from)?.count ?? 0;
    return this.samples.find((s) => s.at > from && s.count > before)?.at;
  }

  /** Longest time between `from` and `to` during which the target did not change. */
  longestStall(from: number, to: number): number {
    let longest = 0;
    let since = from;
    let last: number | undefined;
    for (const s of this.samples) {
      if (s.at < from) {
        last = s.count;
        continue;
      }
      if (s.at > to) break;
      if (last === undefined || s.count !== last) {
        longest = Math.max(longest, s.at - since);
        since = s.at;
        last = s.count;
      }
    }
    return Math.max(longest, Math.min(to, this.samples.at(-1)?.at ?? to) - since);
  }
}

import fs from 'node:fs';

/** Samples a process's resident memory and CPU time from /proc (Linux). */
export class ProcessSampler {
  private peakRssBytes = 0;
  private timer?: NodeJS.Timeout;
  private cpuAtStart = 0;

  constructor(readonly pid: number) {}

  private static ticksPerSecond = 100;

  cpuSeconds(): number {
    const stat = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / ProcessSampler.ticksPerSecond;
  }

  rssBytes(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  }

  start(intervalMs = 100): void {
    this.peakRssBytes = this.rssBytes();
    this.cpuAtStart = this.cpuSeconds();
    this.timer = setInterval(() => {
      try {
        this.peakRssBytes = Math.max(this.peakRssBytes, this.rssBytes());
      } catch {
        // the process ended; the last sample stands
      }
    }, intervalMs);
  }

  stop(): { peakRssMiB: number; cpuSeconds: number } {
    clearInterval(this.timer);
    const cpu = this.cpuSeconds() - this.cpuAtStart;
    return { peakRssMiB: this.peakRssBytes / 1024 / 1024, cpuSeconds: cpu };
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

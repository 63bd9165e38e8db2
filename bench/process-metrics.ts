import fs from 'node:fs';

/** Kernel clock ticks per second, the unit of /proc CPU times (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU seconds a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number | string): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** CPU-ms (user + system) this process has used since `since` (a process.cpuUsage() reading). */
export function cpuMsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/** Samples a process's resident memory and CPU time from /proc (Linux). */
export class ProcessSampler {
  private peakRssBytes = 0;
  private timer?: NodeJS.Timeout;
  private cpuAtStart = 0;

  constructor(readonly pid: number) {}

  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
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

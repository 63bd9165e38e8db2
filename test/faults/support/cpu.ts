import fs from 'node:fs';
import path from 'node:path';

/** Kernel clock ticks per second, the unit of /proc CPU times (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** Names the component a process belongs to, from its command line; undefined = not the scenario's. */
export type CpuClassifier = (argv: string[], pid: number) => string | undefined;

/**
 * The scenario's stack and engine: the servers under `stackDir`, the engine processes run
 * with `configPath`, and this test process ('suite': load, samplers, checks).
 */
export function stackClassifier(stackDir: string, configPath: string): CpuClassifier {
  return (argv, pid) => {
    if (pid === process.pid) return 'suite';
    const bin = path.basename(argv[0] ?? '');
    const mine = argv.some((a) => a.startsWith(stackDir));
    if (bin === 'temporal' && argv.includes('start-dev') && mine) return 'temporal';
    if (bin === 'minio' && mine) {
      const data = argv.find((a) => a.startsWith(stackDir)) ?? '';
      return data.includes('source') ? 'minio-source' : 'minio-target';
    }
    if (bin === 'java' && mine) return 'kafka';
    if (argv.includes(configPath)) {
      if (argv.some((a) => a.endsWith('workers/main.ts'))) return 'worker';
      if (argv.some((a) => a.endsWith('populator/main.ts'))) return 'populator';
    }
    return undefined;
  };
}

function processCpuSeconds(pid: string): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function machineCpuSeconds(): { busy: number; total: number } {
  const v = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / TICKS, total: total / TICKS };
}

/**
 * CPU seconds of each component over a window, read from /proc every `intervalMs` so that a
 * process killed on purpose (and its replacement) still counts: where a slow run's time went,
 * and how much of the machine other jobs took meanwhile.
 */
export class CpuMeter {
  /** pid → component, CPU seconds when first seen in the window and when last seen. */
  private readonly seen = new Map<string, { component: string; first: number; last: number }>();
  private machineAtStart = { busy: 0, total: 0 };
  private timer?: NodeJS.Timeout;
  private startedAt = 0;

  constructor(
    private readonly classify: CpuClassifier,
    private readonly intervalMs = 2_000,
  ) {}

  private sample(): void {
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const known = this.seen.get(pid);
        if (known) {
          known.last = processCpuSeconds(pid);
          continue;
        }
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        const component = this.classify(argv, Number(pid));
        if (!component) continue;
        const cpu = processCpuSeconds(pid);
        // A process started during the window counts from its start.
        const first = this.startedAt && Date.now() - this.startedAt > this.intervalMs / 2 ? 0 : cpu;
        this.seen.set(pid, { component, first, last: cpu });
      } catch {
        // the process ended between listing and reading
      }
    }
  }

  start(): void {
    this.seen.clear();
    this.startedAt = 0;
    this.sample();
    this.startedAt = Date.now();
    this.machineAtStart = machineCpuSeconds();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * CPU seconds per component since start(), all cores' busy share, and the share of all
   * cores that processes outside the scenario used (other jobs on the machine).
   */
  stop(): { seconds: number; components: Record<string, number>; machineBusy: number; otherBusy: number } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const machine = machineCpuSeconds();
    const components: Record<string, number> = {};
    for (const { component, first, last } of this.seen.values())
      components[component] = Math.round(((components[component] ?? 0) + last - first) * 10) / 10;
    const total = machine.total - this.machineAtStart.total;
    const busy = machine.busy - this.machineAtStart.busy;
    const ours = Object.values(components).reduce((a, b) => a + b, 0);
    const share = (x: number) => (total > 0 ? Math.round((x / total) * 100) / 100 : Number.NaN);
    return {
      seconds: Math.round((Date.now() - this.startedAt) / 100) / 10,
      components,
      machineBusy: share(busy),
      otherBusy: share(Math.max(0, busy - ours)),
    };
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { CLOCK_TICKS_PER_SECOND, processCpuSeconds } from './process-metrics';

/** Names the stack component a process belongs to, from its command line; undefined = not ours. */
export type Classifier = (argv: string[], pid: number) => string | undefined;

/** The Temporal CLI dev server's process. */
export const temporalDevServer: Classifier = (argv) =>
  path.basename(argv[0] ?? '') === 'temporal' && argv.includes('start-dev') ? 'temporal' : undefined;

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineCpuSeconds(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS_PER_SECOND, total: total / CLOCK_TICKS_PER_SECOND };
}

/**
 * CPU seconds used by each component of the stack (Temporal, Kafka, both MinIOs, worker,
 * populator, load generator) over a window, and how busy the machine's cores were: the
 * measurement that says which component a workload's throughput is waiting on.
 */
export class ComponentCpuSampler {
  private atStart = new Map<string, number>();
  private machineAtStart = { busy: 0, total: 0 };

  constructor(private readonly classify: Classifier) {}

  private snapshot(): Map<string, number> {
    const out = new Map<string, number>();
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        const component = this.classify(argv, Number(pid));
        if (component) out.set(`${component}|${pid}`, processCpuSeconds(pid));
      } catch {
        // the process ended between listing and reading
      }
    }
    return out;
  }

  start(): void {
    this.atStart = this.snapshot();
    this.machineAtStart = machineCpuSeconds();
  }

  /**
   * CPU seconds per component since start(), the share of all cores that was busy, and the
   * share of all cores that processes outside the stack used (other jobs on the machine).
   */
  stop(): { components: Record<string, number>; machineBusyShare: number; otherBusyShare: number } {
    const now = this.snapshot();
    const machine = machineCpuSeconds();
    const components: Record<string, number> = {};
    for (const [id, seconds] of now) {
      const component = id.slice(0, id.indexOf('|'));
      components[component] = (components[component] ?? 0) + seconds - (this.atStart.get(id) ?? 0);
    }
    const total = machine.total - this.machineAtStart.total;
    const busy = machine.busy - this.machineAtStart.busy;
    const ours = Object.values(components).reduce((a, b) => a + b, 0);
    return {
      components,
      machineBusyShare: total > 0 ? busy / total : Number.NaN,
      otherBusyShare: total > 0 ? Math.max(0, busy - ours) / total : Number.NaN,
    };
  }
}

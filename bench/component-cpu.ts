import fs from 'node:fs';
import path from 'node:path';
import { CLOCK_TICKS_PER_SECOND, processCpuSeconds } from './process-metrics';

/** Names the stack component a process belongs to, from its command line; undefined = not ours. */
export type Classifier = (argv: string[], pid: number) => string | undefined;

/** The Temporal CLI dev server's process. */
export const temporalDevServer: Classifier = (argv) =>
  path.basename(argv[0] ?? '') === 'temporal' && argv.includes('start-dev') ? 'temporal' : undefined;

/**
 * CRR_TEMPORAL=server's processes (stack/temporal-server.ts): the Temporal server and the Web UI
 * server are both Go binaries named `server`, told apart by their `--root` folder.
 */
export const temporalServerProcess: Classifier = (argv) => {
  if (path.basename(argv[0] ?? '') !== 'server' || !argv.includes('start')) return undefined;
  const root = path.basename(argv[argv.indexOf('--root') + 1] ?? '');
  if (root === 'temporal-server') return 'temporal';
  if (root === 'temporal-ui') return 'temporal ui';
  return undefined;
};

/** The parent pid of a process, from /proc/<pid>/stat. */
function parentPid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * PostgreSQL under CRR_TEMPORAL=server: the postmaster (`postgres -D <dataDir>/postgres/...`,
 * which `stateDir` must name when given) and every child of it — the connection backends
 * (`postgres: crr temporal 127.0.0.1(…) idle`), the WAL writer, checkpointer and the others.
 * Backends that exit within a window take their CPU with them (the server keeps pooled
 * connections open for an hour, so this is rare).
 */
export function postgresProcess(stateDir?: string): Classifier {
  const isPostmaster = (argv: string[]) =>
    path.basename(argv[0] ?? '') === 'postgres' &&
    argv.includes('-D') &&
    (!stateDir || argv.some((a) => a.includes(stateDir)));
  return (argv, pid) => {
    if (!(argv[0] ?? '').startsWith('postgres') && path.basename(argv[0] ?? '') !== 'postgres')
      return undefined;
    if (isPostmaster(argv)) return 'postgres';
    try {
      const parent = fs
        .readFileSync(`/proc/${parentPid(pid)}/cmdline`, 'utf8')
        .split('\0')
        .filter(Boolean);
      return isPostmaster(parent) ? 'postgres' : undefined;
    } catch {
      return undefined;
    }
  };
}

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

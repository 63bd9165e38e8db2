import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SUPERVISOR = path.join(__dirname, 'supervise.sh');

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
}

/**
 * A server process whose output goes to one log file and which stops with its group. It can
 * also be crashed on purpose (`signal('SIGKILL')`) and started again with the same command,
 * arguments and environment (`start()`): same ports, same data folders.
 */
export class ManagedProcess {
  private exited = false;
  private exitCode: number | null = null;
  private child!: ChildProcess;
  private exitPromise!: Promise<void>;
  private readonly pidFile: string;
  private starts = 0;

  constructor(readonly options: ManagedProcessOptions) {
    fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
    this.pidFile = `${options.logFile}.pid`;
    this.start();
  }

  /** Spawns the server (again). Readiness is the caller's business (each server has its probe). */
  start(): void {
    if (this.starts > 0 && !this.exited) throw new Error(`${this.options.name} is still running`);
    this.starts += 1;
    fs.rmSync(this.pidFile, { force: true });
    const log = fs.openSync(this.options.logFile, 'a');
    if (this.starts > 1)
      fs.writeSync(log, `\n--- ${new Date().toISOString()} restarted (start #${this.starts})\n`);
    const child = spawn(SUPERVISOR, [String(process.pid), this.options.command, ...this.options.args], {
      env: { ...process.env, ...this.options.env, SUPERVISE_PID_FILE: this.pidFile },
      cwd: this.options.cwd,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.child = child;
    this.exited = false;
    this.exitCode = null;
    this.exitPromise = new Promise<void>((resolve) => {
      child.once('exit', (code) => {
        if (this.child === child) {
          this.exited = true;
          this.exitCode = code;
        }
        resolve();
      });
    });
    liveProcesses.add(this);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** How many times the server was started (1 until the first restart). */
  get startCount(): number {
    return this.starts;
  }

  /** Fails fast with the log's tail when the server died while we waited for it. */
  assertRunning(): void {
    if (this.exited) {
      throw new Error(
        `${this.options.name} exited with code ${this.exitCode}; last log lines (${this.options.logFile}):\n${tail(this.options.logFile, 30)}`,
      );
    }
  }

  /** The server's own pid (not the supervisor's); it leads its own process group. */
  async serverPid(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim());
        if (pid > 0) return pid;
      } catch {
        // not written yet
      }
      if (this.exited || Date.now() > deadline) {
        throw new Error(`${this.options.name}: no server pid in ${this.pidFile}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Sends a signal to the server's process group, as a crash (SIGKILL) or an operator
   * (SIGTERM) would, without going through the supervisor's clean stop.
   */
  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.exited) return;
    const pid = await this.serverPid();
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }

  /** Resolves once the server (and its supervisor) exited; false when `timeoutMs` passed first. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([this.exitPromise.then(() => true), timedOut]);
    clearTimeout(timer);
    return result;
  }

  /** kill -9 of the server's process group; resolves once it is gone. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
    if (!(await this.waitForExit(15_000))) {
      throw new Error(`${this.options.name} still running 15 s after SIGKILL`);
    }
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    liveProcesses.delete(this);
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  /** Synchronous last resort on process exit: signal the supervisor, which stops the group. */
  killNow(): void {
    if (!this.exited) this.child.kill('SIGTERM');
  }
}

const liveProcesses = new Set<ManagedProcess>();
process.once('exit', () => {
  for (const p of liveProcesses) p.killNow();
});

export function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `probe` until it resolves true; the server's death or the deadline ends the wait. */
export async function waitUntilReady(
  process: ManagedProcess | undefined,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    process?.assertRunning();
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      const logHint = process ? ` (log: ${process.options.logFile})` : '';
      throw new Error(`${what} not ready after ${timeoutMs} ms${detail}${logHint}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

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

/** A server process whose output goes to one log file and which stops with its group. */
export class ManagedProcess {
  private exited = false;
  private exitCode: number | null = null;
  private readonly child: ChildProcess;

  constructor(readonly options: ManagedProcessOptions) {
    fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
    const log = fs.openSync(options.logFile, 'a');
    this.child = spawn(SUPERVISOR, [String(process.pid), options.command, ...options.args], {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.child.on('exit', (code) => {
      this.exited = true;
      this.exitCode = code;
    });
    liveProcesses.add(this);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Fails fast with the log's tail when the server died while we waited for it. */
  assertRunning(): void {
    if (this.exited) {
      throw new Error(
        `${this.options.name} exited with code ${this.exitCode}; last log lines (${this.options.logFile}):\n${tail(this.options.logFile, 30)}`,
      );
    }
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    liveProcesses.delete(this);
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
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

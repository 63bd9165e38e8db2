import type { Worker } from '@temporalio/worker';
import type { Logger } from 'pino';

export interface SiteGateOptions {
  /** Creates (not runs) the Worker of a site's task queue. */
  start(site: string): Promise<Worker>;
  /** The site's pause state as the Temporal server records it. */
  pauseState(site: string): Promise<{ paused: boolean; resumeAt?: string; reason?: string }>;
  pollMs: number;
  logger: Logger;
}

interface SiteRun {
  worker: Worker;
  running: Promise<void>;
}

/**
 * Runs one Worker per destination site while the site is not paused. Pausing stops polling
 * the site's task queue (workflow and activity tasks wait on the server, in order); the
 * Worker's shutdown lets in-flight work finish within its grace time. The state is read
 * from the server every `pollMs`, so every worker process follows a pause within about a
 * second, and a process started while a site is paused never polls it. Sites added to the
 * config while the process runs join with add().
 */
export class SiteGate {
  private readonly runs = new Map<string, SiteRun>();
  private readonly paused = new Set<string>();
  // Transitions of one site run one after the other (a resume waits for the pause's drain).
  private readonly chains = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private stopping?: Promise<void>;
  private failure?: unknown;
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  private readonly finished = new Promise<void>((resolve, reject) => {
    this.resolveDone = resolve;
    this.rejectDone = reject;
  });

  private readonly sites: string[];
  // Sites being added: their first pause state is being read.
  private readonly joining = new Set<string>();

  constructor(
    sites: readonly string[],
    private readonly options: SiteGateOptions,
  ) {
    this.sites = [...sites];
  }

  /** Reads every site's state and starts the Workers of the sites that are not paused. */
  async start(): Promise<void> {
    await Promise.all(
      this.sites.map(async (site) => {
        const state = await this.initialState(site);
        if (state.paused) this.markPaused(site, state);
        else await this.startSite(site);
      }),
    );
    this.schedule();
  }

  /**
   * Serves one more site (a destination added to the config while the process runs): reads
   * its pause state and starts its Worker unless it is paused; from then on it follows pause
   * and resume like the others. Resolves with its state once its Worker started (or once it
   * is known paused); undefined when the site is already served or the gate is stopping.
   * When its Worker cannot be created the site is dropped (a later add tries again), the
   * error is thrown, and the other sites go on.
   */
  async add(site: string): Promise<'running' | 'paused' | undefined> {
    if (this.stopping || this.sites.includes(site)) return undefined;
    this.sites.push(site);
    // Its first state is read here: the poll leaves it alone until then.
    this.joining.add(site);
    const joined = (this.chains.get(site) ?? Promise.resolve()).then(async () => {
      const state = await this.initialState(site);
      if (state.paused) {
        this.markPaused(site, state);
        return 'paused' as const;
      }
      await this.startSite(site);
      return this.runs.has(site) ? ('running' as const) : undefined;
    });
    this.chains.set(
      site,
      joined.then(
        () => undefined,
        () => undefined,
      ),
    );
    try {
      return await joined;
    } catch (err) {
      this.sites.splice(this.sites.indexOf(site), 1);
      this.paused.delete(site);
      throw err;
    } finally {
      this.joining.delete(site);
    }
  }

  /** The sites served (running or paused). */
  served(): string[] {
    return [...this.sites];
  }

  private async initialState(site: string): Promise<{ paused: boolean; resumeAt?: string; reason?: string }> {
    return this.options.pauseState(site).catch((err: unknown) => {
      this.options.logger.warn(
        { site, err: (err as Error).message },
        'pause state unreadable: serving the site',
      );
      return { paused: false };
    });
  }

  private markPaused(site: string, state: { paused: boolean; resumeAt?: string; reason?: string }): void {
    this.paused.add(site);
    this.options.logger.info({ site, ...state }, 'site paused: not serving it until resumed');
  }

  /** Resolves once stop() finished; rejects when a site's Worker failed. */
  done(): Promise<void> {
    return this.finished;
  }

  states(): Array<{ site: string; state: 'running' | 'paused' }> {
    return this.sites.map((site) => ({ site, state: this.paused.has(site) ? 'paused' : 'running' }));
  }

  /** Stops watching and shuts every site's Worker down (in-flight work drains). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.timer);
      await this.polling;
      await Promise.all(this.sites.map((site) => this.chains.get(site)));
      await Promise.all([...this.runs.keys()].map((site) => this.stopSite(site)));
      if (this.failure !== undefined) this.rejectDone(this.failure);
      else this.resolveDone();
    })();
    return this.stopping;
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedule());
    }, this.options.pollMs);
  }

  private async poll(): Promise<void> {
    await Promise.all(
      this.sites.map(async (site) => {
        // A site being added: its first state is being read by add().
        if (this.joining.has(site)) return;
        const state = await this.options.pauseState(site).catch(() => undefined);
        // Unreadable (Temporal unreachable): keep doing what we do.
        if (state === undefined || this.stopping) return;
        if (state.paused && !this.paused.has(site)) {
          this.paused.add(site);
          this.options.logger.info(
            { site, ...state },
            'site paused: no new work taken, in-flight work finishes',
          );
          this.enqueue(site, async () => {
            await this.stopSite(site);
            this.options.logger.info({ site }, 'site paused: in-flight work drained');
          });
        } else if (!state.paused && this.paused.has(site)) {
          this.paused.delete(site);
          this.options.logger.info({ site }, 'site resumed');
          this.enqueue(site, () => this.startSite(site));
        }
      }),
    );
  }

  private enqueue(site: string, transition: () => Promise<void>): void {
    const previous = this.chains.get(site) ?? Promise.resolve();
    this.chains.set(
      site,
      previous.then(transition).catch((err: unknown) => {
        this.options.logger.error({ site, err: (err as Error).message }, 'site worker transition failed');
        this.failure ??= err;
        void this.stop();
      }),
    );
  }

  private async startSite(site: string): Promise<void> {
    if (this.stopping || this.runs.has(site)) return;
    const worker = await this.options.start(site);
    const running = worker.run().then(
      () => {
        // Shut down by us (pause, stop) or by the runtime on SIGINT/SIGTERM: the latter stops the gate.
        if (!this.paused.has(site) && !this.stopping) void this.stop();
      },
      (err: unknown) => {
        this.failure ??= err;
        void this.stop();
      },
    );
    this.runs.set(site, { worker, running });
  }

  private async stopSite(site: string): Promise<void> {
    const run = this.runs.get(site);
    if (!run) return;
    if (run.worker.getState() === 'RUNNING') run.worker.shutdown();
    await run.running;
    if (this.runs.get(site) === run) this.runs.delete(site);
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { localSetupOptions, runSetup } from '../../../cli/commands/setup';
import { journalTopicsOf, loadEngineConfig, type EngineConfig } from '../../../config/engine-config';
import { ManagedProcess } from '../../../stack/managed-process';
import { repoRoot } from '../../../stack/paths';
import { WORKER_NODE_FLAGS } from '../../../workers/node-flags';
import { uniqueBucket } from '../../support/stack';
import type { FaultStack } from './fault-stack';

/** The config file's JSON as setup wrote it, for scenarios that change a rule. */
export interface RawEngineConfig {
  sites: Record<string, Record<string, unknown>>;
  replication: Record<string, { Rules: Array<Record<string, unknown>> }>;
  worker?: Record<string, unknown>;
  [field: string]: unknown;
}

/**
 * One engine process (worker or populator) run as a user runs it: its own OS process,
 * `node --import tsx <entry> -c <config>`, its own log file, credentials from the shared
 * credentials file the suite wrote. It can be killed -9, sent SIGTERM and started again.
 */
export class EngineProcess {
  readonly proc: ManagedProcess;
  private readyFrom = 0;

  constructor(
    readonly name: 'worker' | 'worker-2' | 'populator',
    private readonly readyMessage: string,
    readonly logFile: string,
    entry: string,
    nodeFlags: readonly string[],
    configPath: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.proc = new ManagedProcess({
      name,
      command: process.execPath,
      args: [...nodeFlags, '--import', 'tsx', path.join(repoRoot, entry), '-c', configPath],
      env,
      cwd: repoRoot,
      logFile,
    });
  }

  /** Waits for the process's "ready" log line (written after the last (re)start). */
  async waitReady(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = readFrom(this.logFile, this.readyFrom);
      if (text.includes(`"msg":"${this.readyMessage}"`)) return;
      if (!this.proc.running) {
        throw new Error(
          `${this.name} exited before it was ready; last log lines:\n${lastLines(this.logFile, 30)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name} not ready after ${timeoutMs} ms; last log lines:\n${lastLines(this.logFile, 30)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** kill -9 of the process (and its group); resolves once it is gone, with the time of the kill. */
  async kill9(): Promise<number> {
    const at = Date.now();
    await this.proc.kill();
    return at;
  }

  /** SIGTERM, as an operator or an orchestrator stops it. Does not wait. */
  async sigterm(): Promise<number> {
    const at = Date.now();
    await this.proc.signal('SIGTERM');
    return at;
  }

  async restart(): Promise<void> {
    this.readyFrom = fileSize(this.logFile);
    this.proc.start();
    await this.waitReady();
  }

  get running(): boolean {
    return this.proc.running;
  }

  /** Log lines (JSON or not) matching `pattern`, at most `max` of the last ones. */
  grep(pattern: RegExp | ((line: string) => boolean), max = 20): string[] {
    const match = typeof pattern === 'function' ? pattern : (l: string) => pattern.test(l);
    return readFrom(this.logFile, 0)
      .split('\n')
      .filter((l) => l.length > 0 && match(l))
      .slice(-max)
      .map((l) => (l.length > 600 ? `${l.slice(0, 600)}…` : l));
  }

  async stop(): Promise<void> {
    await this.proc.stop(20_000);
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buffer, 0, buffer.length, offset);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function lastLines(file: string, n: number): string {
  return readFrom(file, 0).split('\n').slice(-n).join('\n');
}

export interface EngineOptions {
  /** Worker settings of the config file (`worker.*`). */
  worker?: Record<string, unknown>;
  populator?: Record<string, unknown>;
  /** The rule replicates delete markers (default true). */
  deleteMarkers?: boolean;
  /**
   * Two-way: the same bucket name on both sites, each a source for the other (a second
   * `replication setup` from the target site back to the source site).
   */
  twoWay?: boolean;
  /** Changes the config file after `replication setup` wrote it (e.g. a tag filter). */
  editConfig?: (raw: RawEngineConfig, engine: ScenarioEngine) => void;
  /** Worker processes polling the same task queues (default 1). */
  workers?: 1 | 2;
}

let engines = 0;

/**
 * One replication engine for one scenario run: its own source and target buckets, task
 * queue prefix and consumer group, configured with `replication setup`, and a worker and a
 * populator as separate OS processes.
 */
export class ScenarioEngine {
  readonly id: string;
  readonly dir: string;
  readonly sourceBucket: string;
  readonly targetBucket: string;
  readonly site = 'target';
  readonly configPath: string;
  config!: EngineConfig;
  worker!: EngineProcess;
  /** The second worker process when `workers` is 2: same config, same task queues. */
  secondWorker?: EngineProcess;
  populator!: EngineProcess;
  readonly setupLog: string[] = [];

  constructor(
    private readonly stack: FaultStack,
    readonly scenario: string,
    private readonly options: EngineOptions = {},
  ) {
    engines += 1;
    const slug = scenario
      .replace(/[^a-z0-9]+/gi, '-')
      .toLowerCase()
      .slice(0, 24);
    this.id = `${slug}-${Date.now().toString(36)}-${engines}`;
    this.dir = path.join(stack.dir, this.id);
    fs.mkdirSync(this.dir, { recursive: true });
    this.sourceBucket = uniqueBucket(`f-${slug}`.slice(0, 30));
    this.targetBucket = options.twoWay ? this.sourceBucket : uniqueBucket(`f-${slug}-dst`.slice(0, 34));
    this.configPath = path.join(this.dir, 'crr.config.json');
  }

  /** `replication setup`, then the worker and the populator processes, each waited until ready. */
  async start(): Promise<void> {
    const info = this.stack.info;
    fs.writeFileSync(
      this.configPath,
      JSON.stringify({
        kafka: { brokers: info.kafka.brokers, consumerGroup: `faults-${this.id}` },
        temporal: { address: info.temporal.address, taskQueuePrefix: `faults-${this.id}` },
        ...(this.options.worker ? { worker: this.options.worker } : {}),
        ...(this.options.populator ? { populator: this.options.populator } : {}),
      }),
    );
    const setup = async (...options: Parameters<typeof localSetupOptions>) => {
      const problems = await runSetup(localSetupOptions(...options), (line) => this.setupLog.push(line));
      if (problems > 0) throw new Error(`replication setup failed:\n${this.setupLog.join('\n')}`);
    };
    const deleteMarkers = this.options.deleteMarkers ?? true;
    const sites = { source: info.sites.source.endpoint, target: info.sites.target.endpoint };
    await setup(
      {
        config: this.configPath,
        sourceBucket: this.sourceBucket,
        targetBucket: this.targetBucket,
        sourceEndpoint: sites.source,
        targetEndpoint: sites.target,
      },
      { deleteMarkers },
    );
    if (this.options.twoWay) {
      // The rule back, from the target site to the source site.
      await setup(
        {
          config: this.configPath,
          sourceBucket: this.targetBucket,
          targetBucket: this.sourceBucket,
          sourceEndpoint: sites.target,
          targetEndpoint: sites.source,
        },
        {
          deleteMarkers,
          site: 'source',
          sourceSite: 'target',
          sourceProfile: 'crr-target',
          targetProfile: 'crr-source',
          priority: 2,
        },
      );
    }
    if (this.options.editConfig) {
      const raw = JSON.parse(fs.readFileSync(this.configPath, 'utf8')) as RawEngineConfig;
      this.options.editConfig(raw, this);
      fs.writeFileSync(this.configPath, JSON.stringify(raw, null, 2));
    }
    this.config = loadEngineConfig(this.configPath, {});
    await this.startGroupAtJournalEnd();
    const env: NodeJS.ProcessEnv = {
      AWS_SHARED_CREDENTIALS_FILE: this.stack.credentialsFile,
      CRR_LOG_LEVEL: process.env.FAULT_ENGINE_LOG_LEVEL ?? 'info',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...(process.env.CRR_FAULT_WORKFLOW_BUNDLE
        ? { CRR_WORKFLOW_BUNDLE: process.env.CRR_FAULT_WORKFLOW_BUNDLE }
        : {}),
    };
    const workerProcess = (name: 'worker' | 'worker-2') =>
      new EngineProcess(
        name,
        'worker ready',
        path.join(this.dir, `${name}.log`),
        'workers/main.ts',
        WORKER_NODE_FLAGS,
        this.configPath,
        env,
      );
    this.worker = workerProcess('worker');
    if (this.options.workers === 2) this.secondWorker = workerProcess('worker-2');
    this.populator = new EngineProcess(
      'populator',
      'populator consuming',
      path.join(this.dir, 'populator.log'),
      'populator/main.ts',
      [],
      this.configPath,
      env,
    );
    await Promise.all(this.processes.map((p) => p.waitReady()));
  }

  /** Every engine process of the scenario: the worker(s) and the populator. */
  get processes(): EngineProcess[] {
    return [this.worker, ...(this.secondWorker ? [this.secondWorker] : []), this.populator];
  }

  /**
   * The scenario's consumer group starts at the journal's current end: the journal topic is
   * shared by every scenario of a file, and a poison message left by an earlier scenario must
   * not wedge this one (nor must replaying earlier traffic slow it down).
   */
  private async startGroupAtJournalEnd(): Promise<void> {
    const admin = this.stack.kafka.admin();
    await admin.connect();
    try {
      for (const topic of journalTopicsOf(this.config)) {
        const ends = await admin.fetchTopicOffsets(topic);
        await admin.setOffsets({
          groupId: this.config.kafka.consumerGroup,
          topic,
          partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })),
        });
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Log lines about the given keys (the JSON logs carry `"key":…`), then the last warnings
   * and errors of both processes: what a failure message shows next to the histories.
   */
  relevantLogLines(keys: string[], perKey = 8): string[] {
    const lines: string[] = [];
    for (const key of keys.filter(Boolean).slice(0, 4)) {
      const needle = `"key":${JSON.stringify(key)}`;
      for (const p of this.processes) {
        lines.push(
          ...p
            .grep({ test: (l: string) => l.includes(needle) } as RegExp, perKey)
            .map((l) => `${p.name}: ${l}`),
        );
      }
    }
    const problems = /"level":(40|50|60)|"level":"(WARN|ERROR)"|Error/;
    for (const p of this.processes) {
      lines.push(...p.grep(problems, 5).map((l) => `${p.name}: ${l}`));
    }
    return lines;
  }

  async stop(): Promise<void> {
    await Promise.all([this.populator?.stop(), this.worker?.stop(), this.secondWorker?.stop()]);
  }
}

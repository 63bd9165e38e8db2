import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { upsertProfile } from '../config/credentials-file';
import { repoRoot } from '../stack/paths';
import type { StackInfo } from '../stack/stack';
import { WORKER_NODE_FLAGS } from '../workers/node-flags';
import { MiB } from './throughput';

export const WORKER_SETTINGS: Record<string, number> = {
  maxConcurrentActivities: 32,
  maxConcurrentWorkflowTasks: 32,
  maxCachedWorkflows: 2000,
  partSizeBytes: 16 * MiB,
  partConcurrency: 4,
  // BENCH_WORKER='{"partSizeBytes": 33554432}' tries other worker settings (reported with the results).
  ...(JSON.parse(process.env.BENCH_WORKER ?? '{}') as Record<string, number>),
};

/**
 * The config's `backfill` section for W5 (bench/backfill.ts): the defaults (concurrency 500,
 * pages of 1000, the most S3 lists at once), but startDelaySeconds 1 instead of 10: nothing
 * writes to W5's buckets while it runs, so workers need not learn of the backfill before its
 * first page. BENCH_BACKFILL='{"concurrency": 2000}' tries other settings.
 */
export const BACKFILL_SETTINGS: Record<string, number> = {
  concurrency: 500,
  pageSize: 1000,
  startDelaySeconds: 1,
  ...(JSON.parse(process.env.BENCH_BACKFILL ?? '{}') as Record<string, number>),
};

/**
 * BENCH_WORKERS: how many worker processes each workload runs (default 1). They poll the same
 * task queues, as the replicas of a deployment do; one populator feeds them all.
 */
export function workerProcessCount(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BENCH_WORKERS ?? '1';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`BENCH_WORKERS=${raw}: expected 1 to 16`);
  return n;
}

/** The engine under test: the production bundle's workers and populator, each a process of its own. */
export interface Engine {
  /** The first worker process (the only one unless BENCH_WORKERS > 1). */
  worker: ChildProcess;
  workers: ChildProcess[];
  populator: ChildProcess;
}

export interface EngineFiles {
  configPath: string;
  credentialsPath: string;
}

/** The engine reads the stack's sites from profiles, as it would in production. */
export function writeEngineFiles(stateDir: string, info: StackInfo): EngineFiles {
  const credentialsPath = path.join(stateDir, 'credentials');
  upsertProfile(credentialsPath, 'crr-source', info.sites.source);
  upsertProfile(credentialsPath, 'crr-target', info.sites.target);
  const configPath = path.join(stateDir, 'crr.config.json');
  fs.writeFileSync(
    configPath,
    JSON.stringify({
      kafka: { brokers: info.kafka.brokers },
      temporal: { address: info.temporal.address },
      worker: WORKER_SETTINGS,
      backfill: BACKFILL_SETTINGS,
    }),
  );
  return { configPath, credentialsPath };
}

function spawnEngine(name: string, entry: string, env: NodeJS.ProcessEnv, logDir: string): ChildProcess {
  const out = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  // BENCH_PROFILE=<dir> writes a V8 CPU profile of each engine process (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROFILE)}`,
        `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`,
      ]
    : [];
  // BENCH_WORKER_NODE_FLAGS='--a --b' replaces the worker's node flags, for A/B runs of V8 settings.
  const workerFlags = process.env.BENCH_WORKER_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? WORKER_NODE_FLAGS;
  const flags = name.startsWith('worker') ? workerFlags : [];
  return spawn(process.execPath, [...profile, ...flags, path.join(repoRoot, 'dist', entry)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
}

/** Resolves once both processes have had time to connect to Kafka and Temporal. */
export async function startEngine(files: EngineFiles, logDir: string, workerCount = 1): Promise<Engine> {
  const env = {
    CRR_CONFIG: files.configPath,
    AWS_SHARED_CREDENTIALS_FILE: files.credentialsPath,
    CRR_LOG_LEVEL: 'warn',
  };
  // A second worker finds the metrics port taken: it warns and runs without metrics.
  const workers = Array.from({ length: workerCount }, (_, i) =>
    spawnEngine(i === 0 ? 'worker' : `worker-${i + 1}`, 'workers/main.js', env, logDir),
  );
  const engine = {
    worker: workers[0]!,
    workers,
    populator: spawnEngine('populator', 'populator/main.js', env, logDir),
  };
  await new Promise((r) => setTimeout(r, 5000));
  return engine;
}

export async function stopEngine(engine: Engine): Promise<void> {
  await Promise.all(
    [...engine.workers, engine.populator].map(
      (child) =>
        new Promise<void>((resolve) =>
          child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')),
        ),
    ),
  );
}

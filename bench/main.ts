/**
 * `npm run bench`: measures the engine against the raw-copy limit (L), rclone (P1) and
 * MinIO's own bucket replication (P2), in one run, on a fresh local stack. Prints a table
 * and writes bench/results/<date>.json and docs/BENCHMARKS.md. BENCH_SCALE=0.1 runs a
 * smaller version of every workload (for trying changes; reports say which scale ran).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createS3Client, type S3SiteConnection } from '../clients/s3';
import { repoRoot } from '../stack/paths';
import { startStack, type S3SiteEndpoint, type StackInfo } from '../stack/stack';
import { mcBinary, rcloneVersion } from './baselines';
import { CompletionTracker } from './completion-tracker';
import { DirectJournal } from './direct-journal';
import { WORKER_SETTINGS, startEngine, stopEngine, writeEngineFiles } from './engine-processes';
import { setUpBucketPairs } from './journal-variants';
import { log } from './log';
import { writeReport, type BenchResult, type WorkloadResult } from './report';
import { runWorkload } from './run-workload';
import { measureTemporalCeilingAndServerCpu } from './temporal-ceiling';
import { workloads } from './workloads';

const siteConnection = (s: S3SiteEndpoint): S3SiteConnection => ({
  ...s,
  forcePathStyle: true,
  credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
});

async function main(): Promise<void> {
  const scale = Number(process.env.BENCH_SCALE ?? '1');
  log('building the production bundle (npm run build)...');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-bench-'));
  const stack = await startStack({ stateDir, ports: 'free', log });
  const info: StackInfo = stack.info;
  const children: ChildProcess[] = [];
  try {
    const engineFiles = writeEngineFiles(stateDir, info);
    // `replication setup` runs in this process and reads the same profiles.
    process.env.AWS_SHARED_CREDENTIALS_FILE = engineFiles.credentialsPath;
    // BENCH_ONLY=W2 (or W1,W4,ceiling) runs a subset while trying a change; the report is printed only.
    const only = process.env.BENCH_ONLY?.split(',').map((x) => x.trim());
    const specs = workloads(scale).filter((spec) => !only || only.includes(spec.id));
    await setUpBucketPairs(specs, engineFiles.configPath, info);
    const sites = { source: siteConnection(info.sites.source), target: siteConnection(info.sites.target) };
    const source = createS3Client(sites.source, 128);
    const target = createS3Client(sites.target, 128);
    const tracker = new CompletionTracker(info.kafka.brokers, info.topics);
    await tracker.start();
    const directJournal = new DirectJournal(info.kafka.brokers, info.topics.journal);
    await directJournal.start();
    const connection = await Connection.connect({ address: info.temporal.address });
    const temporal = new Client({ connection });
    const mc = mcBinary();
    const rclone = await rcloneVersion().catch(() => undefined);

    let temporalCeiling: BenchResult['temporalCeiling'] = { workflowsPerSecond: Number.NaN, seconds: 0 };
    if (!only || only.includes('ceiling')) {
      log('Temporal ceiling: signal-with-start of empty workflows...');
      const count = Math.max(200, Math.round(1000 * scale));
      temporalCeiling = await measureTemporalCeilingAndServerCpu(info.temporal.address, count);
      log(`Temporal ceiling: ${temporalCeiling.workflowsPerSecond.toFixed(1)} empty workflows/s`);
    }
    const results: WorkloadResult[] = [];
    for (const spec of specs) {
      // Flush what earlier workloads left to write (W2 alone writes ~10 GiB with its peers),
      // so that the kernel's writeback does not stall the next workload's disks.
      execFileSync('sync');
      // Each workload gets fresh worker and populator processes: its RSS and CPU are its own.
      const engine = await startEngine(engineFiles, info.logDir);
      children.push(engine.worker, engine.populator);
      results.push(
        await runWorkload(spec, {
          info,
          engine,
          tracker,
          temporal,
          sites,
          source,
          target,
          mc,
          rclone,
          directJournal,
        }),
      );
      await stopEngine(engine);
    }
    const result: BenchResult = {
      date: new Date().toISOString(),
      scale,
      machine:
        `${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.cpus()[0]?.model ?? ''}`.trim(),
      engineSettings: WORKER_SETTINGS,
      peers: {
        rclone: rclone ?? 'not available',
        mc: mc ? path.basename(path.dirname(mc)) : 'not available',
      },
      workloads: results,
      only,
      temporalCeiling,
    };
    await writeReport(result, log);
    await tracker.stop();
    await directJournal.stop();
    await connection.close();
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
    await stack.stop();
    if (process.env.BENCH_KEEP_STATE !== '1') fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});

/**
 * `npm run bench`: measures the engine against the raw-copy limit (L), rclone (P1) and
 * MinIO's own bucket replication (P2), in one run, on a fresh local stack. Prints a table
 * and writes bench/results/<date>.json and docs/BENCHMARKS.md. BENCH_SCALE=0.1 runs a
 * smaller version of every workload (for trying changes; reports say which scale ran).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createS3Client, type S3SiteConnection } from '../activities/s3-clients';
import { localSetupOptions, runSetup } from '../cli/commands/setup';
import { upsertProfile } from '../config/credentials-file';
import { MINIO_UNQUEUED_JOURNAL_ARN } from '../shared/topics';
import { repoRoot, cacheDir } from '../stack/paths';
import { WORKER_NODE_FLAGS } from '../workers/node-flags';
import { startStack, type StackInfo } from '../stack/stack';
import {
  configureMinioReplication,
  createVersionedBucket,
  listKeys,
  rawCopy,
  rawCopyAfterPut,
  rcloneCopy,
  rcloneVersion,
  waitForObjectCount,
} from './baselines';
import { ComponentCpuSampler, temporalDevServer, type Classifier } from './component-cpu';
import { CompletionTracker } from './completion-tracker';
import { DirectJournal } from './direct-journal';
import { measureTemporalCeiling } from './temporal-ceiling';
import { ProcessSampler, percentile } from './process-metrics';
import { workloads, type PutRecord, type WorkloadSpec } from './workloads';
import { writeReport, type BenchResult, type WorkloadResult } from './report';

const MiB = 1024 * 1024;
const log = (line: string) => console.log(`[bench] ${line}`);
/**
 * The ways the journal reaches the engine, each measured on a bucket pair of its own:
 * MinIO's durable notifications (all workloads), the bench writing the journal itself right
 * after each PUT (no MinIO delivery at all), and MinIO's target without a queue folder.
 */
interface JournalVariant {
  measurement: 'ours' | 'direct' | 'unqueued';
  bucketSuffix: string;
  label: string;
  workloads: string[];
  notification: boolean;
  journalArn?: string;
}
const JOURNAL_VARIANTS: JournalVariant[] = [
  {
    measurement: 'ours',
    bucketSuffix: 'src',
    label: '',
    workloads: ['W1', 'W2', 'W3', 'W4'],
    notification: true,
  },
  {
    measurement: 'direct',
    bucketSuffix: 'direct',
    label: ' (direct journal)',
    workloads: ['W1', 'W4'],
    notification: false,
  },
  {
    measurement: 'unqueued',
    bucketSuffix: 'now',
    label: ' (MinIO target without queue folder)',
    workloads: ['W2', 'W4'],
    notification: true,
    journalArn: MINIO_UNQUEUED_JOURNAL_ARN,
  },
];
const sourceBucketOf = (spec: WorkloadSpec, variant: JournalVariant) =>
  `bench-${spec.id.toLowerCase()}-${variant.bucketSuffix}`;
const WORKER: Record<string, number> = {
  maxConcurrentActivities: 32,
  maxConcurrentWorkflowTasks: 32,
  maxCachedWorkflows: 2000,
  partSizeBytes: 16 * MiB,
  partConcurrency: 4,
  // BENCH_WORKER='{"partSizeBytes": 33554432}' tries other worker settings (reported with the results).
  ...(JSON.parse(process.env.BENCH_WORKER ?? '{}') as Record<string, number>),
};

function mcBinary(): string | undefined {
  const dir = path.join(cacheDir(), 'bin');
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).find((d) => d.startsWith('mc-')) : undefined;
  if (found) return path.join(dir, found, 'mc');
  try {
    const version = 'v0.0.0-20250313080218-cf909e1063a9';
    const target = path.join(dir, `mc-${version}`);
    log(`building mc ${version} from the Go module proxy (first run only)...`);
    execFileSync('go', ['install', `github.com/minio/mc@${version}`], {
      env: { ...process.env, GOBIN: target },
      stdio: 'inherit',
    });
    return path.join(target, 'mc');
  } catch {
    return undefined;
  }
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
  const flags = name === 'worker' ? WORKER_NODE_FLAGS : [];
  return spawn(process.execPath, [...profile, ...flags, path.join(repoRoot, 'dist', entry)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
}

async function historyEventsPerVersion(temporal: Client, bucket: string, versions: number): Promise<number> {
  let events = 0;
  for await (const run of temporal.workflow.list({ query: `CrrBucket = '${bucket}'` }))
    events += run.historyLength;
  return events / versions;
}

async function main(): Promise<void> {
  const scale = Number(process.env.BENCH_SCALE ?? '1');
  log('building the production bundle (npm run build)...');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-bench-'));
  const stack = await startStack({ stateDir, ports: 'free', log });
  const info: StackInfo = stack.info;
  const children: ChildProcess[] = [];
  try {
    const credentials = path.join(stateDir, 'credentials');
    upsertProfile(credentials, 'crr-source', info.sites.source);
    upsertProfile(credentials, 'crr-target', info.sites.target);
    process.env.AWS_SHARED_CREDENTIALS_FILE = credentials;
    const configPath = path.join(stateDir, 'crr.config.json');
    fs.writeFileSync(
      configPath,
      JSON.stringify({
        kafka: { brokers: info.kafka.brokers },
        temporal: { address: info.temporal.address },
        worker: WORKER,
      }),
    );
    // BENCH_ONLY=W2 (or W1,W4,ceiling) runs a subset while trying a change; the report is printed only.
    const only = process.env.BENCH_ONLY?.split(',').map((x) => x.trim());
    const specs = workloads(scale).filter((spec) => !only || only.includes(spec.id));
    const setups = specs.flatMap((spec) =>
      JOURNAL_VARIANTS.filter((v) => v.workloads.includes(spec.id)).map((v) => ({
        source: sourceBucketOf(spec, v),
        target: `${sourceBucketOf(spec, v)}-dst`,
        notification: v.notification,
        journalArn: v.journalArn,
      })),
    );
    for (const b of setups) {
      const problems = await runSetup(
        localSetupOptions(
          {
            config: configPath,
            sourceBucket: b.source,
            targetBucket: b.target,
            sourceEndpoint: info.sites.source.endpoint,
            targetEndpoint: info.sites.target.endpoint,
          },
          { notification: b.notification, ...(b.journalArn ? { journalArn: b.journalArn } : {}) },
        ),
        () => undefined,
      );
      if (problems > 0) throw new Error(`setup failed for ${b.source}`);
    }
    const env = { CRR_CONFIG: configPath, AWS_SHARED_CREDENTIALS_FILE: credentials, CRR_LOG_LEVEL: 'warn' };
    // Each workload gets fresh worker and populator processes: its RSS and CPU are its own.
    const startEngine = async (): Promise<Engine> => {
      const engine = {
        worker: spawnEngine('worker', 'workers/main.js', env, info.logDir),
        populator: spawnEngine('populator', 'populator/main.js', env, info.logDir),
      };
      children.push(engine.worker, engine.populator);
      await new Promise((r) => setTimeout(r, 5000));
      return engine;
    };
    const site = (s: StackInfo['sites']['source']) => ({
      ...s,
      forcePathStyle: true,
      credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    });
    const source = createS3Client(site(info.sites.source), 128);
    const target = createS3Client(site(info.sites.target), 128);
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
      const serverCpu = new ComponentCpuSampler(temporalDevServer);
      let serverSeconds = Number.NaN;
      temporalCeiling = await measureTemporalCeiling(info.temporal.address, count, 64, {
        start: () => serverCpu.start(),
        stop: () => {
          serverSeconds = serverCpu.stop().components.temporal ?? Number.NaN;
        },
      });
      temporalCeiling = { ...temporalCeiling, serverCpuMsPerWorkflow: (serverSeconds / count) * 1000 };
      log(`Temporal ceiling: ${temporalCeiling.workflowsPerSecond.toFixed(1)} empty workflows/s`);
    }
    const results: WorkloadResult[] = [];
    for (const spec of specs) {
      // Flush what earlier workloads left to write (W2 alone writes ~10 GiB with its peers),
      // so that the kernel's writeback does not stall the next workload's disks.
      execFileSync('sync');
      const engine = await startEngine();
      results.push(
        await runWorkload(spec, {
          source,
          target,
          tracker,
          temporal,
          ...engine,
          info,
          mc,
          rclone,
          directJournal,
          sites: { source: site(info.sites.source), target: site(info.sites.target) },
        }),
      );
      await stopEngine(engine);
    }
    const result: BenchResult = {
      date: new Date().toISOString(),
      scale,
      machine:
        `${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.cpus()[0]?.model ?? ''}`.trim(),
      engineSettings: WORKER,
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

/** Which stack component each process is, so CPU can be attributed per component. */
function stackClassifier(ctx: Ctx): Classifier {
  const sourcePort = new URL(ctx.info.sites.source.endpoint).port;
  const targetPort = new URL(ctx.info.sites.target.endpoint).port;
  return (argv, pid) => {
    if (pid === process.pid) return 'load generator';
    if (pid === ctx.worker.pid) return 'worker';
    if (pid === ctx.populator.pid) return 'populator';
    const program = path.basename(argv[0] ?? '');
    if (temporalDevServer(argv, pid)) return 'temporal';
    if (program === 'java' && argv.includes('kafka.Kafka')) return 'kafka';
    if (program === 'minio' && argv.includes('server')) {
      if (argv.includes(`127.0.0.1:${sourcePort}`)) return 'minio source';
      if (argv.includes(`127.0.0.1:${targetPort}`)) return 'minio target';
    }
    return undefined;
  };
}

interface Engine {
  worker: ChildProcess;
  populator: ChildProcess;
}

async function stopEngine(engine: Engine): Promise<void> {
  await Promise.all(
    [engine.worker, engine.populator].map(
      (child) =>
        new Promise<void>((resolve) =>
          child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')),
        ),
    ),
  );
}

interface Ctx {
  sites: { source: S3SiteConnection; target: S3SiteConnection };
  source: ReturnType<typeof createS3Client>;
  target: ReturnType<typeof createS3Client>;
  tracker: CompletionTracker;
  temporal: Client;
  worker: ChildProcess;
  populator: ChildProcess;
  info: StackInfo;
  mc?: string;
  rclone?: string;
  directJournal: DirectJournal;
}

async function measureOurs(
  spec: WorkloadSpec,
  ctx: Ctx,
  bucket: string,
  s3: ReturnType<typeof createS3Client>,
  label = '',
): Promise<{ ours: WorkloadResult['ours']; bytes: number }> {
  const componentSampler = new ComponentCpuSampler(stackClassifier(ctx));
  componentSampler.start();
  const workerSampler = new ProcessSampler(ctx.worker.pid!);
  const workerStartRssMiB = workerSampler.rssBytes() / 1024 / 1024;
  const populatorSampler = new ProcessSampler(ctx.populator.pid!);
  workerSampler.start();
  populatorSampler.start();
  const records: PutRecord[] = await spec.run(s3, bucket);
  const putsDone = Date.now();
  await ctx.tracker.waitFor(
    bucket,
    records.map((r) => r.versionId),
    30 * 60_000,
  );
  const componentUse = componentSampler.stop();
  const workerUse = workerSampler.stop();
  const populatorUse = populatorSampler.stop();
  const firstPut = Math.min(...records.map((r) => r.putAt));
  const completions = records.map((r) => ctx.tracker.completions.get(`${bucket}|${r.versionId}`)!);
  const lastCompleted = Math.max(...completions.map((c) => c.at));
  const seconds = (lastCompleted - firstPut) / 1000;
  const bytes = records.reduce((s, r) => s + r.bytes, 0);
  const latencies = completions.map((c) => c.at - c.eventTime).sort((a, b) => a - b);
  // Worst latency per 2-second slice of journal time: tells a short stall from a steady backlog.
  const slices = new Map<number, number>();
  for (const c of completions) {
    const slice = Math.floor((c.eventTime - firstPut) / 2000) * 2;
    slices.set(slice, Math.max(slices.get(slice) ?? 0, c.at - c.eventTime));
  }
  const slowestPut = new Map<number, number>();
  for (const r of records) {
    const slice = Math.floor((r.putAt - firstPut) / 2000) * 2;
    slowestPut.set(slice, Math.max(slowestPut.get(slice) ?? 0, r.putMs));
  }
  const worstSlices = [...slices.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([second, maxLatencyMs]) => ({
      second,
      maxLatencyMs,
      slowestSourcePutMs: slowestPut.get(second) ?? 0,
    }));
  const appended = (r: PutRecord) => ctx.tracker.journalAppends.get(`${bucket}|${r.versionId}`) ?? Number.NaN;
  const delivery = records
    .map((r, i) => appended(r) - completions[i]!.eventTime)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const engine = records
    .map((r, i) => completions[i]!.at - appended(r))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const ours = {
    objects: records.length,
    seconds,
    objectsPerSecond: records.length / seconds,
    mibPerSecond: bytes / MiB / seconds,
    latencyMs: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
    },
    journalDeliveryMs: { p50: percentile(delivery, 50), p99: percentile(delivery, 99) },
    engineMs: { p50: percentile(engine, 50), p95: percentile(engine, 95), p99: percentile(engine, 99) },
    worstSlices,
    historyEventsPerVersion: await historyEventsPerVersion(ctx.temporal, bucket, records.length),
    workerPeakRssMiB: workerUse.peakRssMiB,
    workerStartRssMiB,
    populatorPeakRssMiB: populatorUse.peakRssMiB,
    cpuSecondsPer1000: ((workerUse.cpuSeconds + populatorUse.cpuSeconds) / records.length) * 1000,
    putSeconds: (putsDone - firstPut) / 1000,
    failed: completions.filter((c) => c.status !== 'COMPLETED').length,
    componentCpuPer1000: Object.fromEntries(
      Object.entries(componentUse.components).map(([c, sec]) => [c, (sec / records.length) * 1000]),
    ),
    machineBusyShare: componentUse.machineBusyShare,
  };
  log(
    `${spec.id}${label}: ours ${ours.objectsPerSecond.toFixed(1)} obj/s, ${ours.mibPerSecond.toFixed(1)} MiB/s, p50/p99 ${ours.latencyMs.p50}/${ours.latencyMs.p99} ms (journal delivery p99 ${ours.journalDeliveryMs.p99} ms, engine p99 ${ours.engineMs.p99} ms); worker RSS ${workerStartRssMiB.toFixed(0)} → ${workerUse.peakRssMiB.toFixed(0)} MiB; worst 2 s slices (s from first PUT: max ms) ${worstSlices.map((w) => `${w.second}:${w.maxLatencyMs} (source PUT ≤ ${w.slowestSourcePutMs})`).join(' ')}`,
  );
  return { ours, bytes };
}

async function runWorkload(spec: WorkloadSpec, ctx: Ctx): Promise<WorkloadResult> {
  const bucket = sourceBucketOf(spec, JOURNAL_VARIANTS[0]!);
  log(`${spec.id}: ${spec.title}`);
  const measured: Partial<Record<JournalVariant['measurement'], WorkloadResult['ours']>> = {};
  let bytes = 0;
  for (const variant of JOURNAL_VARIANTS.filter((v) => v.workloads.includes(spec.id))) {
    // Without notifications the bench itself writes the journal record after each PUT.
    const writer = variant.notification ? ctx.source : ctx.directJournal.wrap(ctx.source);
    const run = await measureOurs(spec, ctx, sourceBucketOf(spec, variant), writer, variant.label);
    measured[variant.measurement] = run.ours;
    if (variant.measurement === 'ours') bytes = run.bytes;
  }
  const baselines: WorkloadResult['baselines'] = {};
  // BENCH_BASELINES=0 measures the engine alone (quicker, while trying a change).
  if ((spec.id === 'W1' || spec.id === 'W2') && process.env.BENCH_BASELINES !== '0') {
    const keys = await listKeys(ctx.source, bucket);
    const concurrency = spec.id === 'W1' ? 32 : 8;
    const lBucket = `bench-${spec.id.toLowerCase()}-limit`;
    await createVersionedBucket(ctx.target, lBucket);
    const lMs = await rawCopy(ctx.source, ctx.target, bucket, lBucket, keys, concurrency);
    baselines.L = {
      seconds: lMs / 1000,
      objectsPerSecond: keys.length / (lMs / 1000),
      mibPerSecond: bytes / MiB / (lMs / 1000),
    };
    log(
      `${spec.id}: L ${baselines.L.objectsPerSecond.toFixed(1)} obj/s, ${baselines.L.mibPerSecond.toFixed(1)} MiB/s`,
    );
    const wSrc = `bench-${spec.id.toLowerCase()}-lwsrc`;
    const wDst = `bench-${spec.id.toLowerCase()}-lwdst`;
    await createVersionedBucket(ctx.source, wSrc);
    await createVersionedBucket(ctx.target, wDst);
    const wMs = await rawCopyAfterPut(spec.run, ctx.source, ctx.sites, wSrc, wDst, concurrency);
    baselines.Lwindow = {
      seconds: wMs / 1000,
      objectsPerSecond: keys.length / (wMs / 1000),
      mibPerSecond: bytes / MiB / (wMs / 1000),
    };
    log(
      `${spec.id}: L same window ${baselines.Lwindow.objectsPerSecond.toFixed(1)} obj/s, ${baselines.Lwindow.mibPerSecond.toFixed(1)} MiB/s`,
    );
    if (ctx.rclone) {
      const rBucket = `bench-${spec.id.toLowerCase()}-rclone`;
      await createVersionedBucket(ctx.target, rBucket);
      const rMs = await rcloneCopy(
        ctx.info.sites.source,
        ctx.info.sites.target,
        bucket,
        rBucket,
        concurrency,
      );
      baselines.P1 = {
        seconds: rMs / 1000,
        objectsPerSecond: keys.length / (rMs / 1000),
        mibPerSecond: bytes / MiB / (rMs / 1000),
      };
      log(
        `${spec.id}: P1 rclone ${baselines.P1.objectsPerSecond.toFixed(1)} obj/s, ${baselines.P1.mibPerSecond.toFixed(1)} MiB/s`,
      );
    }
    if (ctx.mc) {
      try {
        const pSrc = `bench-${spec.id.toLowerCase()}-p2src`;
        const pDst = `bench-${spec.id.toLowerCase()}-p2dst`;
        await createVersionedBucket(ctx.source, pSrc);
        await createVersionedBucket(ctx.target, pDst);
        await configureMinioReplication(
          ctx.mc,
          path.join(ctx.info.stateDir, 'mc'),
          ctx.info.sites.source,
          ctx.info.sites.target,
          pSrc,
          pDst,
        );
        const pRecords = await spec.run(ctx.source, pSrc);
        const pFirst = Math.min(...pRecords.map((r) => r.putAt));
        const pDone = await waitForObjectCount(ctx.target, pDst, '', pRecords.length, 30 * 60_000);
        const pSeconds = (pDone - pFirst) / 1000;
        baselines.P2 = {
          seconds: pSeconds,
          objectsPerSecond: pRecords.length / pSeconds,
          mibPerSecond: bytes / MiB / pSeconds,
        };
        log(
          `${spec.id}: P2 MinIO replication ${baselines.P2.objectsPerSecond.toFixed(1)} obj/s, ${baselines.P2.mibPerSecond.toFixed(1)} MiB/s`,
        );
      } catch (err) {
        baselines.P2error = (err as Error).message.split('\n')[0];
        log(`${spec.id}: P2 could not run: ${baselines.P2error}`);
      }
    }
  }
  return {
    id: spec.id,
    title: spec.title,
    ours: measured.ours!,
    direct: measured.direct,
    unqueued: measured.unqueued,
    baselines,
  };
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});

import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { createS3Client } from '../clients/s3';
import type { StackInfo } from '../stack/stack';
import {
  ComponentCpuSampler,
  postgresProcess,
  temporalDevServer,
  temporalServerProcess,
  type Classifier,
} from './component-cpu';
import type { CompletionTracker } from './completion-tracker';
import type { Engine } from './engine-processes';
import { log } from './log';
import { ProcessSampler, percentile } from './process-metrics';
import type { WorkloadResult } from './report';
import { throughput } from './throughput';
import { speedProbeMs } from './speed-probe';
import type { PutRecord, WorkloadSpec } from './workloads';

/** The running engine and where its work shows: completions on Kafka, histories in Temporal. */
export interface EngineUnderTest {
  info: StackInfo;
  engine: Engine;
  tracker: CompletionTracker;
  temporal: Client;
}

/** Which stack component each process is, so CPU can be attributed per component. */
export function stackClassifier(ctx: { info: StackInfo; engine?: Engine }): Classifier {
  const sourcePort = new URL(ctx.info.sites.source.endpoint).port;
  const targetPort = new URL(ctx.info.sites.target.endpoint).port;
  const postgres = postgresProcess(ctx.info.stateDir);
  return (argv, pid) => {
    if (pid === process.pid) return 'load generator';
    if (ctx.engine?.workers.some((w) => w.pid === pid)) return 'worker';
    if (ctx.engine && pid === ctx.engine.populator.pid) return 'populator';
    const program = path.basename(argv[0] ?? '');
    // Other stacks (test suites) may run their own Temporal and Kafka on the same machine.
    const ofThisStack = argv.some((a) => a.includes(ctx.info.stateDir));
    if (temporalDevServer(argv, pid) && ofThisStack) return 'temporal';
    // CRR_TEMPORAL=server: the server, its Web UI and PostgreSQL (postmaster and backends).
    if (ofThisStack && temporalServerProcess(argv, pid)) return temporalServerProcess(argv, pid);
    if (postgres(argv, pid)) return 'postgres';
    if (program === 'java' && argv.includes('kafka.Kafka') && ofThisStack) return 'kafka';
    if (program === 'minio' && argv.includes('server')) {
      if (argv.includes(`127.0.0.1:${sourcePort}`)) return 'minio source';
      if (argv.includes(`127.0.0.1:${targetPort}`)) return 'minio target';
    }
    return undefined;
  };
}

async function historyEventsPerVersion(temporal: Client, bucket: string, versions: number): Promise<number> {
  let events = 0;
  for await (const run of temporal.workflow.list({ query: `CrrBucket = '${bucket}'` }))
    events += run.historyLength;
  return events / versions;
}

/** Puts `spec` into `bucket` through `s3` and follows every version to its COMPLETED status. */
export async function measureOurs(
  spec: WorkloadSpec,
  ctx: EngineUnderTest,
  bucket: string,
  s3: ReturnType<typeof createS3Client>,
  label = '',
): Promise<{ ours: WorkloadResult['ours']; bytes: number }> {
  const probeBefore = speedProbeMs();
  const componentSampler = new ComponentCpuSampler(stackClassifier(ctx));
  componentSampler.start();
  // With BENCH_WORKERS > 1: the RSS is the largest of the worker processes', the CPU their sum.
  const workerSamplers = ctx.engine.workers.map((w) => new ProcessSampler(w.pid!));
  const workerStartRssMiB = Math.max(...workerSamplers.map((w) => w.rssBytes())) / 1024 / 1024;
  const populatorSampler = new ProcessSampler(ctx.engine.populator.pid!);
  for (const w of workerSamplers) w.start();
  populatorSampler.start();
  const records: PutRecord[] = await spec.run(s3, bucket);
  const putsDone = Date.now();
  await ctx.tracker.waitFor(
    bucket,
    records.map((r) => r.versionId),
    30 * 60_000,
  );
  const componentUse = componentSampler.stop();
  const workerUses = workerSamplers.map((w) => w.stop());
  const workerUse = {
    peakRssMiB: Math.max(...workerUses.map((w) => w.peakRssMiB)),
    cpuSeconds: workerUses.reduce((sum, w) => sum + w.cpuSeconds, 0),
  };
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
    ...throughput(records.length, bytes, seconds),
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
    speedProbeMs: [probeBefore, speedProbeMs()] as [number, number],
  };
  log(
    `${spec.id}${label}: ours ${ours.objectsPerSecond.toFixed(1)} obj/s, ${ours.mibPerSecond.toFixed(1)} MiB/s, p50/p99 ${ours.latencyMs.p50}/${ours.latencyMs.p99} ms (journal delivery p99 ${ours.journalDeliveryMs.p99} ms, engine p99 ${ours.engineMs.p99} ms); worker RSS ${workerStartRssMiB.toFixed(0)} → ${workerUse.peakRssMiB.toFixed(0)} MiB; speed probe ${ours.speedProbeMs.join('/')} ms; worst 2 s slices (s from first PUT: max ms) ${worstSlices.map((w) => `${w.second}:${w.maxLatencyMs} (source PUT ≤ ${w.slowestSourcePutMs})`).join(' ')}`,
  );
  return { ours, bytes };
}

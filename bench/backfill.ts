/**
 * W5: backfill of objects written before the replication rule existed (`replication backfill`,
 * operations/backfill.ts), against L (the raw streaming GET → PUT loop copying the same objects)
 * and MinIO's own `mc replicate resync start` on a bucket whose MinIO replication rule replicates
 * existing objects. Each is timed from its start to the last object on the target.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { temporal as temporal_ } from '@temporalio/proto';
import pLimit from 'p-limit';
import { localSetupOptions, runSetup } from '../cli/commands/setup';
import { loadEngineConfig } from '../config/engine-config';
import { backfillStatus, startBackfills, type BackfillStatus } from '../operations/backfill';
import { BACKFILL_MEMO, BACKFILL_WORKFLOW, type BackfillState } from '../shared/backfill';
import type { StackInfo } from '../stack/stack';
import {
  configureMinioReplication,
  createVersionedBucket,
  listKeys,
  minioReplicationArn,
  minioResyncStatus,
  rawCopy,
  rcloneCopy,
  startMinioResync,
} from './baselines';
import { ComponentCpuSampler } from './component-cpu';
import type { CompletionTracker } from './completion-tracker';
import { startEngine, stopEngine, type Engine, type EngineFiles } from './engine-processes';
import { log } from './log';
import { stackClassifier } from './measure-engine';
import { ProcessSampler } from './process-metrics';
import type { BackfillMeasurement, BackfillWorkloadResult, PeerMeasurement } from './report';
import { MiB, throughput } from './throughput';
import { bigBody, put, type PutRecord } from './workloads';

export interface BackfillSpec {
  id: 'W5a' | 'W5b';
  title: string;
  objects: number;
  objectBytes: number;
  keyOf: (i: number) => string;
  /** Concurrent PUTs writing the objects to the source before the rule exists. */
  putConcurrency: number;
  /** L's concurrency: W1's for small objects, W2's for large ones. */
  copyConcurrency: number;
}

/**
 * W5a: 10,000 objects of 4 KiB; W5b: 8 objects of 256 MiB (scaled by BENCH_SCALE like the
 * others). BENCH_W5='{"small": 500, "large": 2, "largeMiB": 64}' sets the counts and size directly.
 */
export function backfillWorkloads(scale: number): BackfillSpec[] {
  const o = JSON.parse(process.env.BENCH_W5 ?? '{}') as { small?: number; large?: number; largeMiB?: number };
  const n = (full: number, min: number) => Math.max(min, Math.round(full * scale));
  const small = o.small ?? n(10_000, 100);
  const large = o.large ?? n(8, 2);
  const largeMiB = o.largeMiB ?? 256;
  return [
    {
      id: 'W5a',
      title: `backfill of ${small} existing objects of 4 KiB`,
      objects: small,
      objectBytes: 4 * 1024,
      keyOf: (i) => `w5a/obj-${String(i).padStart(6, '0')}`,
      putConcurrency: 64,
      copyConcurrency: 32,
    },
    {
      id: 'W5b',
      title: `backfill of ${large} existing objects of ${largeMiB} MiB`,
      objects: large,
      objectBytes: largeMiB * MiB,
      keyOf: (i) => `w5b/big-${i}`,
      putConcurrency: 4,
      copyConcurrency: 8,
    },
  ];
}

/** Writes the spec's objects into `bucket` with bounded concurrency. */
async function writeObjects(s3: S3Client, bucket: string, spec: BackfillSpec): Promise<PutRecord[]> {
  const body =
    spec.objectBytes > 1024 * 1024 ? bigBody(spec.objectBytes) : Buffer.alloc(spec.objectBytes, 'b');
  const limit = pLimit(spec.putConcurrency);
  return Promise.all(
    Array.from({ length: spec.objects }, (_, i) => limit(() => put(s3, bucket, spec.keyOf(i), body))),
  );
}

/** Every object of the spec is on the target with its size: the number found. */
async function objectsOnTarget(s3: S3Client, bucket: string, spec: BackfillSpec): Promise<number> {
  const keys = await listKeys(s3, bucket);
  const sizes = new Map(keys.map((k) => [k.key, k.size]));
  let found = 0;
  for (let i = 0; i < spec.objects; i++) if (sizes.get(spec.keyOf(i)) === spec.objectBytes) found++;
  return found;
}

export interface BackfillContext {
  info: StackInfo;
  engineFiles: EngineFiles;
  tracker: CompletionTracker;
  temporal: Client;
  source: S3Client;
  target: S3Client;
  mc?: string;
  /** Whether rclone is installed: then it copies the same objects too (P1). */
  rclone?: boolean;
  /** Each engine started here (the caller stops what is left on failure). */
  started: (engine: Engine) => void;
  /** Worker processes per engine (BENCH_WORKERS). */
  workers?: number;
}

const bucketOf = (spec: BackfillSpec, purpose: string) => `bench-${spec.id.toLowerCase()}-${purpose}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadAverage = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

/** Key workflows whose histories are read to count their events by type. */
const SAMPLED_KEYS = 50;

/**
 * History events of the bucket's key workflows and of its backfill, and the mean events by
 * type of up to SAMPLED_KEYS key workflows spread over the bucket.
 */
async function historyEvents(
  temporal: Client,
  bucket: string,
): Promise<{ keyWorkflows: number; backfill: number; backfillRuns: number; sample: Record<string, number> }> {
  const out = { keyWorkflows: 0, backfill: 0, backfillRuns: 0, sample: {} as Record<string, number> };
  const keys: Array<{ workflowId: string; runId: string }> = [];
  for await (const run of temporal.workflow.list({ query: `CrrBucket = '${bucket}'` })) {
    if (run.type === BACKFILL_WORKFLOW) {
      out.backfill += run.historyLength;
      out.backfillRuns++;
    } else {
      out.keyWorkflows += run.historyLength;
      keys.push({ workflowId: run.workflowId, runId: run.runId });
    }
  }
  const step = Math.max(1, Math.floor(keys.length / SAMPLED_KEYS));
  const sampled = keys.filter((_, i) => i % step === 0).slice(0, SAMPLED_KEYS);
  for (const key of sampled) {
    const history = await temporal.workflow.getHandle(key.workflowId, key.runId).fetchHistory();
    for (const e of history.events ?? []) {
      const type = (temporal_.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType)).replace(
        /^EVENT_TYPE_/,
        '',
      );
      out.sample[type] = (out.sample[type] ?? 0) + 1 / sampled.length;
    }
  }
  return out;
}

/** Ours: the rule is set up after the objects exist, then `startBackfills`, until `completed`. */
async function measureOurs(
  spec: BackfillSpec,
  ctx: BackfillContext,
  bucket: string,
  records: PutRecord[],
  bytes: number,
): Promise<BackfillMeasurement> {
  const targetBucket = `${bucket}-dst`;
  // What an operator does: `replication setup` (rule + journal notification) on the existing bucket.
  const problems = await runSetup(
    localSetupOptions({
      config: ctx.engineFiles.configPath,
      sourceBucket: bucket,
      targetBucket,
      sourceEndpoint: ctx.info.sites.source.endpoint,
      targetEndpoint: ctx.info.sites.target.endpoint,
    }),
    () => undefined,
  );
  if (problems > 0) throw new Error(`setup failed for ${bucket}`);
  // Fresh worker and populator processes that read the rule at start, as after a deployment.
  const engine = await startEngine(ctx.engineFiles, ctx.info.logDir, ctx.workers);
  ctx.started(engine);
  try {
    const config = loadEngineConfig(ctx.engineFiles.configPath);
    const componentSampler = new ComponentCpuSampler(stackClassifier({ info: ctx.info, engine }));
    const workerSampler = new ProcessSampler(engine.worker.pid!);
    const populatorSampler = new ProcessSampler(engine.populator.pid!);
    componentSampler.start();
    workerSampler.start();
    populatorSampler.start();
    const started = Date.now();
    const [backfill] = await startBackfills(ctx.temporal, config, { bucket });
    if (!backfill) throw new Error(`no backfill started for ${bucket}`);
    // Polled with describe (status and memo) rather than the progress query, which would make
    // the worker replay the backfill's history whenever the key workflows pushed it out of the
    // cache; the run's own finishedAt times the completed phase.
    const handle = ctx.temporal.workflow.getHandle(backfill.workflowId);
    let lastLog = Date.now();
    let scanned: number | undefined;
    for (;;) {
      const described = await handle.describe();
      if (described.status.name !== 'RUNNING') break;
      if (Date.now() - started > 60 * 60_000)
        throw new Error(`backfill of ${bucket} still running after 1 h`);
      const p = (described.memo?.[BACKFILL_MEMO] as Partial<BackfillState> | undefined)?.progress;
      // The memo is published after each page: the first poll that sees `draining` (±1 s).
      if (scanned === undefined && p?.phase === 'draining') scanned = Date.now();
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(
          `${spec.id}: ours ${p?.phase ?? 'starting'}, submitted ${p?.submitted ?? 0}, replicated ${p?.replicated ?? 0} of ${spec.objects} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
        );
      }
      await sleep(1000);
    }
    const status: BackfillStatus = await backfillStatus(ctx.temporal, backfill.workflowId);
    const progress = status.progress;
    if (status.runStatus !== 'COMPLETED' || progress?.phase !== 'completed')
      throw new Error(
        `backfill of ${bucket} ended ${status.runStatus} (${progress?.phase ?? 'no progress'})`,
      );
    // Every version's COMPLETED status: when it landed on the target.
    await ctx.tracker.waitFor(
      bucket,
      records.map((r) => r.versionId),
      60_000,
    );
    const componentUse = componentSampler.stop();
    const workerUse = workerSampler.stop();
    const populatorUse = populatorSampler.stop();
    const completions = records.map((r) => ctx.tracker.completions.get(`${bucket}|${r.versionId}`)!);
    const lastOnTarget = Math.max(...completions.map((c) => c.at));
    const verified = await objectsOnTarget(ctx.target, targetBucket, spec);
    if (verified !== spec.objects)
      throw new Error(
        `backfill of ${bucket} completed with ${verified} of ${spec.objects} objects on the target`,
      );
    const events = await historyEvents(ctx.temporal, bucket);
    const ours: BackfillMeasurement = {
      ...throughput(spec.objects, bytes, (lastOnTarget - started) / 1000),
      toCompletedSeconds: (Date.parse(progress.finishedAt!) - started) / 1000,
      scanStartSeconds: (Date.parse(progress.scanStartedAt!) - started) / 1000,
      ...(scanned !== undefined ? { submittedAllSeconds: (scanned - started) / 1000 } : {}),
      verifiedOnTarget: verified,
      failed: completions.filter((c) => c.status !== 'COMPLETED').length,
      progress: {
        listed: progress.listed,
        submitted: progress.submitted,
        replicated: progress.replicated,
        alreadyReplicated: progress.alreadyReplicated,
        notReplicated: progress.notReplicated,
        failed: progress.failed,
      },
      keyHistoryEventsPerObject: events.keyWorkflows / spec.objects,
      sampleKeyHistory: events.sample,
      backfillHistoryEvents: events.backfill,
      backfillRuns: events.backfillRuns,
      workerPeakRssMiB: workerUse.peakRssMiB,
      populatorPeakRssMiB: populatorUse.peakRssMiB,
      cpuSecondsPer1000: ((workerUse.cpuSeconds + populatorUse.cpuSeconds) / spec.objects) * 1000,
      componentCpuPer1000: Object.fromEntries(
        Object.entries(componentUse.components).map(([c, sec]) => [c, (sec / spec.objects) * 1000]),
      ),
      machineBusyShare: componentUse.machineBusyShare,
      otherBusyShare: componentUse.otherBusyShare,
    };
    log(
      `${spec.id}: ours ${ours.objectsPerSecond.toFixed(1)} obj/s, ${ours.mibPerSecond.toFixed(1)} MiB/s, ${ours.seconds.toFixed(1)} s to the last object on the target (completed phase at ${ours.toCompletedSeconds.toFixed(1)} s, scan from ${ours.scanStartSeconds.toFixed(1)} s to ${ours.submittedAllSeconds?.toFixed(0) ?? '?'} s); ${ours.keyHistoryEventsPerObject.toFixed(1)} key-workflow events per object, backfill ${events.backfill} events in ${events.backfillRuns} runs; other jobs used ${(componentUse.otherBusyShare * 100).toFixed(0)}% of the cores`,
    );
    return ours;
  } finally {
    await stopEngine(engine);
  }
}

/** CPU per 1,000 objects by component, and how busy the cores were, around `work`. */
async function sampled<T>(
  info: StackInfo,
  objects: number,
  work: () => Promise<T>,
): Promise<{
  value: T;
  cpu: Pick<PeerMeasurement, 'componentCpuPer1000' | 'machineBusyShare' | 'otherBusyShare'>;
}> {
  const sampler = new ComponentCpuSampler(stackClassifier({ info }));
  sampler.start();
  const value = await work();
  const use = sampler.stop();
  return {
    value,
    cpu: {
      componentCpuPer1000: Object.fromEntries(
        Object.entries(use.components).map(([c, sec]) => [c, (sec / objects) * 1000]),
      ),
      machineBusyShare: use.machineBusyShare,
      otherBusyShare: use.otherBusyShare,
    },
  };
}

/** L: the raw streaming GET → PUT loop over the objects ours backfilled, to a bucket of its own. */
async function measureL(
  spec: BackfillSpec,
  ctx: BackfillContext,
  bucket: string,
  bytes: number,
): Promise<PeerMeasurement> {
  const lBucket = bucketOf(spec, 'limit');
  await createVersionedBucket(ctx.target, lBucket);
  const keys = await listKeys(ctx.source, bucket);
  const { value: ms, cpu } = await sampled(ctx.info, spec.objects, () =>
    rawCopy(ctx.source, ctx.target, bucket, lBucket, keys, spec.copyConcurrency),
  );
  const verified = await objectsOnTarget(ctx.target, lBucket, spec);
  if (verified !== spec.objects) throw new Error(`L left ${verified} of ${spec.objects} objects`);
  const L: PeerMeasurement = { ...throughput(spec.objects, bytes, ms / 1000), ...cpu };
  log(`${spec.id}: L ${L.objectsPerSecond.toFixed(1)} obj/s, ${L.mibPerSecond.toFixed(1)} MiB/s`);
  return L;
}

/** P1: `rclone copy` of the objects ours backfilled, to a bucket of its own (L's transfers). */
async function measureRclone(
  spec: BackfillSpec,
  ctx: BackfillContext,
  bucket: string,
  bytes: number,
): Promise<PeerMeasurement> {
  const rBucket = bucketOf(spec, 'rclone');
  await createVersionedBucket(ctx.target, rBucket);
  const { value: ms, cpu } = await sampled(ctx.info, spec.objects, () =>
    rcloneCopy(ctx.info.sites.source, ctx.info.sites.target, bucket, rBucket, spec.copyConcurrency),
  );
  const verified = await objectsOnTarget(ctx.target, rBucket, spec);
  if (verified !== spec.objects) throw new Error(`rclone left ${verified} of ${spec.objects} objects`);
  const rclone: PeerMeasurement = { ...throughput(spec.objects, bytes, ms / 1000), ...cpu };
  log(
    `${spec.id}: rclone ${rclone.objectsPerSecond.toFixed(1)} obj/s, ${rclone.mibPerSecond.toFixed(1)} MiB/s`,
  );
  return rclone;
}

/**
 * MinIO's resync: the same objects written to a bucket of their own, MinIO replication added
 * with existing-object replication (`mc replicate add --replicate existing-objects,delete,delete-marker`),
 * then `mc replicate resync start`, timed until the target holds every object.
 */
async function measureMinioResync(
  spec: BackfillSpec,
  ctx: BackfillContext & { mc: string },
  bytes: number,
): Promise<PeerMeasurement> {
  const pSrc = bucketOf(spec, 'p2src');
  const pDst = bucketOf(spec, 'p2dst');
  const configDir = path.join(ctx.info.stateDir, 'mc');
  await createVersionedBucket(ctx.source, pSrc);
  await createVersionedBucket(ctx.target, pDst);
  await writeObjects(ctx.source, pSrc, spec);
  execFileSync('sync');
  await configureMinioReplication(
    ctx.mc,
    configDir,
    ctx.info.sites.source,
    ctx.info.sites.target,
    pSrc,
    pDst,
    'existing-objects,delete,delete-marker',
  );
  const arn = await minioReplicationArn(ctx.mc, configDir, pSrc);
  // MinIO's scanner also replicates existing objects, on its own slow cycle: count what it did first.
  const before = (await listKeys(ctx.target, pDst)).length;
  const { value, cpu } = await sampled(ctx.info, spec.objects, async () => {
    const started = Date.now();
    await startMinioResync(ctx.mc, configDir, pSrc, arn);
    let lastLog = Date.now();
    for (;;) {
      await sleep(500);
      const status = await minioResyncStatus(ctx.mc, configDir, pSrc, arn);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(`${spec.id}: MinIO resync ${status.status}, ${status.replicatedCount} replicated`);
      }
      if (status.status === 'Failed') throw new Error(`MinIO resync failed (${status.failedCount} failed)`);
      if (status.status === 'Completed' || status.replicatedCount >= spec.objects) {
        // Done by MinIO's account: the last object's time is MinIO's own end time, once a
        // listing shows every object (otherwise when a listing first does).
        const reportedDone = status.endTime ? Date.parse(status.endTime) : Date.now();
        const checked = Date.now();
        if ((await objectsOnTarget(ctx.target, pDst, spec)) === spec.objects)
          return { started, done: Math.min(reportedDone, checked), listed: Date.now(), status };
      }
      if (Date.now() - started > 60 * 60_000) throw new Error('MinIO resync still running after 1 h');
    }
  });
  const resync: PeerMeasurement = {
    ...throughput(spec.objects, bytes, (value.done - value.started) / 1000),
    ...cpu,
    listedSeconds: (value.listed - value.started) / 1000,
    reportedCount: value.status.replicatedCount,
    alreadyOnTarget: before,
  };
  log(
    `${spec.id}: MinIO resync ${resync.objectsPerSecond.toFixed(1)} obj/s, ${resync.mibPerSecond.toFixed(1)} MiB/s (${resync.seconds.toFixed(1)} s; MinIO counted ${value.status.replicatedCount}; ${before} on the target before the resync)`,
  );
  return resync;
}

/** One part of W5: write the objects (no rule yet), then ours, L, rclone and MinIO's resync on them. */
export async function runBackfillWorkload(
  spec: BackfillSpec,
  ctx: BackfillContext,
): Promise<BackfillWorkloadResult> {
  const began = Date.now();
  const load = loadAverage();
  log(`${spec.id}: ${spec.title} (load average ${load.join(' ')})`);
  const bucket = bucketOf(spec, 'src');
  await createVersionedBucket(ctx.source, bucket);
  const records = await writeObjects(ctx.source, bucket, spec);
  const writeSeconds = (Date.now() - began) / 1000;
  const bytes = records.reduce((s, r) => s + r.bytes, 0);
  log(`${spec.id}: ${records.length} objects written before the rule in ${writeSeconds.toFixed(1)} s`);
  execFileSync('sync');
  const result: BackfillWorkloadResult = {
    id: spec.id,
    title: spec.title,
    objects: spec.objects,
    bytes,
    loadAverage: load,
    writeSeconds,
    durationSeconds: 0,
  };
  const attempt = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (err) {
      const message = (err as Error).message.split('\n')[0]!;
      log(`${spec.id}: ${what} could not run: ${message}`);
      result.errors = { ...result.errors, [what]: message };
      return undefined;
    }
  };
  result.ours = await attempt('ours', () => measureOurs(spec, ctx, bucket, records, bytes));
  result.L = await attempt('L', () => measureL(spec, ctx, bucket, bytes));
  if (ctx.rclone && process.env.BENCH_BASELINES !== '0')
    result.rclone = await attempt('rclone', () => measureRclone(spec, ctx, bucket, bytes));
  const mc = ctx.mc;
  if (mc && process.env.BENCH_BASELINES !== '0')
    result.minioResync = await attempt('MinIO resync', () => measureMinioResync(spec, { ...ctx, mc }, bytes));
  result.durationSeconds = (Date.now() - began) / 1000;
  log(`${spec.id}: done in ${result.durationSeconds.toFixed(0)} s`);
  return result;
}

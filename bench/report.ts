import fs from 'node:fs';
import * as prettier from 'prettier';
import os from 'node:os';
import path from 'node:path';
import { JOURNAL_PARTITIONS } from '../shared/topics';
import { repoRoot } from '../stack/paths';

export interface Throughput {
  seconds: number;
  objectsPerSecond: number;
  mibPerSecond: number;
}

export type OurMeasurement = Throughput & {
  objects: number;
  latencyMs: { p50: number; p95: number; p99: number };
  journalDeliveryMs: { p50: number; p99: number };
  engineMs: { p50: number; p95: number; p99: number };
  /** The 2-second slices of journal time with the worst latency, worst first. */
  worstSlices?: Array<{ second: number; maxLatencyMs: number; slowestSourcePutMs?: number }>;
  historyEventsPerVersion: number;
  workerPeakRssMiB: number;
  /** The worker's RSS when the workload started (idle, after start-up). */
  workerStartRssMiB?: number;
  populatorPeakRssMiB: number;
  cpuSecondsPer1000: number;
  putSeconds: number;
  failed: number;
  /** CPU seconds per 1,000 objects of each stack component over the run, and how busy all cores were. */
  componentCpuPer1000?: Record<string, number>;
  machineBusyShare?: number;
  /** bench/speed-probe.ts before and after the measurement, in ms (lower is faster). */
  speedProbeMs?: [number, number];
};

export interface WorkloadResult {
  id: string;
  title: string;
  /** The same workload with the journal written by the bench instead of MinIO's notifications. */
  direct?: OurMeasurement;
  /** The same workload through MinIO's journal target without a queue folder (sent at once, not durable). */
  unqueued?: OurMeasurement;
  ours: OurMeasurement;
  baselines: {
    L?: Throughput;
    /** L over the engine's window: each object copied right after its source PUT. */
    Lwindow?: Throughput;
    P1?: Throughput;
    P2?: Throughput;
    P2error?: string;
  };
}

/** Our backfill (W5), from `startBackfills` to the last object on the target. */
export type BackfillMeasurement = Throughput & {
  /** From the start to the backfill's `completed` phase (every outcome reported back to it). */
  toCompletedSeconds: number;
  /** From the start to the first page (backfill.startDelaySeconds). */
  scanStartSeconds: number;
  /** From the start until every object was listed and signalled (phase `draining`, seen within 1 s). */
  submittedAllSeconds?: number;
  /** Objects a listing of the target found, with their sizes, after the backfill completed. */
  verifiedOnTarget: number;
  failed: number;
  progress: {
    listed: number;
    submitted: number;
    replicated: number;
    alreadyReplicated: number;
    notReplicated: number;
    failed: number;
  };
  /** History events of the per-key workflows per object, and of the backfill workflow itself. */
  keyHistoryEventsPerObject: number;
  /** Mean events by type of the key workflows' histories (a sample of up to 50 keys). */
  sampleKeyHistory?: Record<string, number>;
  backfillHistoryEvents: number;
  backfillRuns: number;
  workerPeakRssMiB: number;
  populatorPeakRssMiB: number;
  cpuSecondsPer1000: number;
  componentCpuPer1000: Record<string, number>;
  machineBusyShare: number;
  /** Share of all cores used by processes outside the stack (other jobs on the machine). */
  otherBusyShare: number;
};

/** A peer of W5 (L, MinIO's resync), with the stack's CPU over its run. */
export type PeerMeasurement = Throughput & {
  componentCpuPer1000?: Record<string, number>;
  machineBusyShare?: number;
  otherBusyShare?: number;
  /**
   * MinIO's resync: until the listing that found every object had ended (an upper bound of its
   * time), the objects it counted as replicated, and those on the target before it started.
   */
  listedSeconds?: number;
  reportedCount?: number;
  alreadyOnTarget?: number;
};

/** One part of W5: objects written before the rule, then backfilled by ours, L and MinIO's resync. */
export interface BackfillWorkloadResult {
  id: string;
  title: string;
  objects: number;
  bytes: number;
  /** 1-, 5- and 15-minute load averages when the part began. */
  loadAverage: number[];
  /** Writing the objects to the source (before the rule). */
  writeSeconds: number;
  /** The whole part: writes, ours, L, and MinIO's writes and resync. */
  durationSeconds: number;
  ours?: BackfillMeasurement;
  L?: PeerMeasurement;
  /** P1, rclone copy of the same objects (when rclone is installed). */
  rclone?: PeerMeasurement;
  minioResync?: PeerMeasurement;
  /** What could not be measured, and why. */
  errors?: Record<string, string>;
}

export interface TemporalCeiling {
  workflowsPerSecond: number;
  seconds: number;
  serverCpuMsPerWorkflow?: number;
  /** PostgreSQL's CPU per empty workflow (CRR_TEMPORAL=server only). */
  databaseCpuMsPerWorkflow?: number;
}

export interface TemporalUnderTest {
  /** `dev`: the Temporal CLI dev server (SQLite, 1 shard); `server`: the server on PostgreSQL. */
  kind: 'dev' | 'server';
  /** History shards of the server (CRR_TEMPORAL_SHARDS). */
  shards?: number;
}

/** One stack of a multi-configuration run (BENCH_TEMPORAL=both, BENCH_WORKERS=1,2). */
export interface ConfigurationResult {
  label: string;
  temporal: TemporalUnderTest;
  workerProcesses: number;
  temporalCeiling: TemporalCeiling;
  workloads: WorkloadResult[];
  backfill?: BackfillWorkloadResult[];
  loadAverage: number[];
  runSeconds: number;
}

export interface BenchResult {
  date: string;
  scale: number;
  machine: string;
  engineSettings: Record<string, number>;
  peers: Record<string, string>;
  workloads: WorkloadResult[];
  /** Set when BENCH_ONLY picked some workloads: printed only, docs/BENCHMARKS.md is left alone. */
  only?: string[];
  /** Signal-with-start of empty workflows: what the Temporal server alone sustains. */
  temporalCeiling: TemporalCeiling;
  /** The Temporal the top-level workloads ran on (absent in older results: the dev server). */
  temporal?: TemporalUnderTest;
  /** Worker processes per workload (BENCH_WORKERS; absent in older results: 1). */
  workerProcesses?: number;
  /**
   * Set when BENCH_TEMPORAL / BENCH_WORKERS named several configurations: each one's results,
   * measured one after the other on a fresh stack each. The top-level fields are the first's.
   */
  configurations?: ConfigurationResult[];
  /** W5: backfill of objects written before the rule, with the config's `backfill` section it ran with. */
  backfill?: BackfillWorkloadResult[];
  backfillSettings?: Record<string, number>;
  /** The command that ran (with its BENCH_* settings), the load averages at its start and its length. */
  command?: string;
  loadAverage?: number[];
  runSeconds?: number;
  /**
   * Set when a BENCH_ONLY run was merged (BENCH_MERGE) into an earlier full run's results: what
   * this run measured; everything else is the earlier run's.
   */
  merged?: {
    base: string;
    baseDate: string;
    measured: string[];
    /** The Temporal ceiling measured in a merged run (beside its workloads). */
    temporalCeiling?: BenchResult['temporalCeiling'];
    /** The workloads measured beside that ceiling, and when (kept through later merges). */
    ceilingBeside?: { workloads: string[]; date: string };
    /** Workloads merged into the same full run before this one, each with when it was measured. */
    earlier?: Array<{ measured: string[]; date: string }>;
  };
}

const f = (n: number | undefined, digits = 1) =>
  n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
const ratio = (a: number, b: number | undefined) => (b ? `${((a / b) * 100).toFixed(0)}%` : '–');

type Target = [string, string, boolean | undefined];

/** Every measurement of a workload with its row label: through MinIO, then the variants. */
function measurementsOf(w: WorkloadResult): Array<[string, OurMeasurement]> {
  const rows: Array<[string, OurMeasurement]> = [[w.id, w.ours]];
  if (w.direct) rows.push([`${w.id} direct journal`, w.direct]);
  if (w.unqueued) rows.push([`${w.id} MinIO without queue folder`, w.unqueued]);
  return rows;
}

/** "mine is at least `share` of the baseline", shown as a percentage. */
const atLeast = (what: string, mine: number, baseline: number, share: number): Target => [
  what,
  ratio(mine, baseline),
  mine >= share * baseline,
];

const p99Within1s = (what: string, o: OurMeasurement, detail = ''): Target => [
  what,
  `${f(o.latencyMs.p99, 0)} ms${detail}`,
  o.latencyMs.p99 <= 1000,
];

function targets(r: BenchResult): Target[] {
  const w = Object.fromEntries(r.workloads.map((x) => [x.id, x]));
  const w1 = w.W1;
  const w2 = w.W2;
  const w4 = w.W4;
  const out: Target[] = [];
  const L1 = w1?.baselines.L?.objectsPerSecond;
  const L2 = w2?.baselines.L?.mibPerSecond;
  if (w1 && L1) out.push(atLeast('W1 ≥ 50% of L objects/s', w1.ours.objectsPerSecond, L1, 0.5));
  if (w1?.baselines.Lwindow)
    out.push(
      atLeast(
        'W1 ≥ 50% of L objects/s, L over the same window (first PUT → last copy)',
        w1.ours.objectsPerSecond,
        w1.baselines.Lwindow.objectsPerSecond,
        0.5,
      ),
    );
  if (w1?.baselines.P2) {
    out.push([
      'W1 ahead of P2 (MinIO replication)',
      `${f(w1.ours.objectsPerSecond)} vs ${f(w1.baselines.P2.objectsPerSecond)} obj/s`,
      w1.ours.objectsPerSecond > w1.baselines.P2.objectsPerSecond,
    ]);
  }
  if (w2 && L2) {
    out.push(atLeast('W2 ≥ 90% of L MiB/s', w2.ours.mibPerSecond, L2, 0.9));
    if (w2.unqueued)
      out.push(
        atLeast(
          'W2 ≥ 90% of L MiB/s, MinIO journal target without queue folder',
          w2.unqueued.mibPerSecond,
          L2,
          0.9,
        ),
      );
    if (w2.baselines.Lwindow)
      out.push(
        atLeast(
          'W2 ≥ 90% of L MiB/s, L over the same window (first PUT → last copy)',
          w2.ours.mibPerSecond,
          w2.baselines.Lwindow.mibPerSecond,
          0.9,
        ),
      );
  }
  for (const large of [w2, w.W2p]) {
    for (const [peer, name] of [
      [large?.baselines.P1, 'P1 (rclone)'],
      [large?.baselines.P2, 'P2 (MinIO replication)'],
    ] as const) {
      if (large && peer)
        out.push([
          `${large.id} ahead of ${name}`,
          `${f(large.ours.mibPerSecond)} vs ${f(peer.mibPerSecond)} MiB/s`,
          large.ours.mibPerSecond > peer.mibPerSecond,
        ]);
    }
  }
  if (w4)
    out.push(
      p99Within1s('W4 p99 latency ≤ 1 s', w4.ours, ` (engine share ${f(w4.ours.engineMs.p99, 0)} ms)`),
    );
  if (w4?.direct)
    out.push(p99Within1s('W4 p99 latency ≤ 1 s, journal written directly (engine alone)', w4.direct));
  if (w4?.unqueued)
    out.push(
      p99Within1s(
        'W4 p99 latency ≤ 1 s, MinIO journal target without queue folder',
        w4.unqueued,
        ` (journal delivery ${f(w4.unqueued.journalDeliveryMs.p99, 0)} ms)`,
      ),
    );
  if (w1?.direct && L1)
    out.push(
      atLeast(
        'W1 ≥ 50% of L objects/s, journal written directly (engine alone)',
        w1.direct.objectsPerSecond,
        L1,
        0.5,
      ),
    );
  if (w2)
    out.push([
      'worker RSS ≤ 256 MiB during W2',
      `${f(w2.ours.workerPeakRssMiB, 0)} MiB`,
      w2.ours.workerPeakRssMiB <= 256,
    ]);
  for (const b of r.backfill ?? []) {
    if (b.ours && b.rclone)
      out.push([
        `${b.id} ahead of rclone (both copy objects already on the source)`,
        `${f(b.ours.mibPerSecond)} vs ${f(b.rclone.mibPerSecond)} MiB/s`,
        b.ours.mibPerSecond > b.rclone.mibPerSecond,
      ]);
    if (b.ours && b.minioResync)
      out.push([
        `${b.id} ahead of MinIO's resync (objects/s and MiB/s: same objects, same bytes)`,
        `${f(b.ours.objectsPerSecond)} vs ${f(b.minioResync.objectsPerSecond)} obj/s, ${f(b.ours.mibPerSecond)} vs ${f(b.minioResync.mibPerSecond)} MiB/s`,
        b.ours.objectsPerSecond > b.minioResync.objectsPerSecond,
      ]);
  }
  const events = Math.max(
    ...r.workloads.flatMap((x) => measurementsOf(x).map(([, o]) => o.historyEventsPerVersion)),
  );
  out.push(['≤ 12 history events per version', `${f(events)} (worst workload)`, events <= 12]);
  return out;
}

function table(r: BenchResult): string {
  const rows = [
    '| workload | objects | ours obj/s | ours MiB/s | L obj/s | L same-window obj/s | P1 rclone obj/s | P2 MinIO obj/s | ours/L | ours/L same window | ours/P1 | ours/P2 | latency p50/p95/p99 ms | journal delivery p50/p99 ms | engine p50/p99 ms | events/version | worker RSS MiB | populator RSS MiB | CPU s/1000 obj |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const row = (label: string, id: string, o: OurMeasurement, b: WorkloadResult['baselines']) => {
    const large = id.startsWith('W2');
    const by = (x?: Throughput) => (large ? x?.mibPerSecond : x?.objectsPerSecond);
    const mine = large ? o.mibPerSecond : o.objectsPerSecond;
    return `| ${label} | ${o.objects} | ${f(o.objectsPerSecond)} | ${f(o.mibPerSecond)} | ${f(b.L?.objectsPerSecond)} | ${f(b.Lwindow?.objectsPerSecond)} | ${f(b.P1?.objectsPerSecond)} | ${f(b.P2?.objectsPerSecond)} | ${ratio(mine, by(b.L))} | ${ratio(mine, by(b.Lwindow))} | ${ratio(mine, by(b.P1))} | ${ratio(mine, by(b.P2))} | ${f(o.latencyMs.p50, 0)}/${f(o.latencyMs.p95, 0)}/${f(o.latencyMs.p99, 0)} | ${f(o.journalDeliveryMs.p50, 0)}/${f(o.journalDeliveryMs.p99, 0)} | ${f(o.engineMs.p50, 0)}/${f(o.engineMs.p99, 0)} | ${f(o.historyEventsPerVersion)} | ${f(o.workerPeakRssMiB, 0)} | ${f(o.populatorPeakRssMiB, 0)} | ${f(o.cpuSecondsPer1000, 2)} |`;
  };
  for (const w of r.workloads) {
    for (const [label, o] of measurementsOf(w)) rows.push(row(label, w.id, o, w.baselines));
  }
  return rows.join('\n');
}

const BASE_COMPONENTS = [
  'temporal',
  'minio source',
  'minio target',
  'kafka',
  'worker',
  'populator',
  'load generator',
];

/** CRR_TEMPORAL=server's other processes: shown only where a run measured them. */
const SERVER_COMPONENTS = ['postgres', 'temporal ui'];

/** The components to show for these measurements: the usual ones, plus PostgreSQL and the UI if seen. */
function componentsOf(measured: Array<Record<string, number> | undefined>): string[] {
  const seen = new Set(measured.flatMap((m) => Object.keys(m ?? {})));
  const [temporal, ...rest] = BASE_COMPONENTS;
  return [temporal!, ...SERVER_COMPONENTS.filter((c) => seen.has(c)), ...rest];
}

/** CPU-ms per object summed over the components (all of the stack's processes). */
const totalCpuMs = (perObject: Record<string, number> | undefined) =>
  perObject ? Object.values(perObject).reduce((a, b) => a + b, 0) : Number.NaN;

function cpuTable(r: BenchResult): string {
  const COMPONENTS = componentsOf(
    r.workloads.flatMap((w) => measurementsOf(w).map(([, o]) => o.componentCpuPer1000)),
  );
  const rows = [
    `| workload | all cores busy | speed probe ms, before/after | ${COMPONENTS.join(' | ')} |`,
    `|---|---|---|${COMPONENTS.map(() => '---').join('|')}|`,
  ];
  const row = (label: string, o: OurMeasurement) =>
    o.componentCpuPer1000
      ? `| ${label} | ${f((o.machineBusyShare ?? Number.NaN) * 100, 0)}% | ${o.speedProbeMs?.join('/') ?? '–'} | ${COMPONENTS.map((c) => f(o.componentCpuPer1000?.[c], 1)).join(' | ')} |`
      : '';
  for (const w of r.workloads) {
    for (const [label, o] of measurementsOf(w)) rows.push(row(label, o));
  }
  return rows.filter(Boolean).join('\n');
}

function backfillTable(r: BenchResult): string {
  const rows = [
    '| workload | objects | MiB | ours obj/s | ours MiB/s | ours s to last object | ours s to `completed` | L obj/s | L MiB/s | L s | rclone MiB/s | MinIO resync obj/s | MinIO resync MiB/s | MinIO resync s | ours/L | ours/rclone | ours/MinIO resync | events/object (key workflows) | backfill workflow events (runs) | worker RSS MiB | CPU s/1000 obj | load average at start |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const b of r.backfill ?? []) {
    const o = b.ours;
    const mine = o?.objectsPerSecond ?? Number.NaN;
    rows.push(
      `| ${b.id} | ${b.objects} | ${f(b.bytes / 1024 / 1024, 0)} | ${f(o?.objectsPerSecond)} | ${f(o?.mibPerSecond)} | ${f(o?.seconds)} | ${f(o?.toCompletedSeconds)} | ${f(b.L?.objectsPerSecond)} | ${f(b.L?.mibPerSecond)} | ${f(b.L?.seconds)} | ${f(b.rclone?.mibPerSecond)} | ${f(b.minioResync?.objectsPerSecond)} | ${f(b.minioResync?.mibPerSecond)} | ${f(b.minioResync?.seconds)} | ${ratio(mine, b.L?.objectsPerSecond)} | ${ratio(mine, b.rclone?.objectsPerSecond)} | ${ratio(mine, b.minioResync?.objectsPerSecond)} | ${f(o?.keyHistoryEventsPerObject)} | ${o ? `${o.backfillHistoryEvents} (${o.backfillRuns})` : '–'} | ${f(o?.workerPeakRssMiB, 0)} | ${f(o?.cpuSecondsPer1000, 2)} | ${b.loadAverage.map((x) => x.toFixed(2)).join(' ')} |`,
    );
  }
  return rows.join('\n');
}

function backfillCpuTable(r: BenchResult): string {
  const COMPONENTS = componentsOf(
    (r.backfill ?? []).flatMap((b) =>
      [b.ours, b.L, b.rclone, b.minioResync].map((m) => m?.componentCpuPer1000),
    ),
  );
  const rows = [
    `| run | all cores busy | other jobs | ${COMPONENTS.join(' | ')} |`,
    `|---|---|---|${COMPONENTS.map(() => '---').join('|')}|`,
  ];
  for (const b of r.backfill ?? []) {
    const runs: Array<[string, PeerMeasurement | undefined]> = [
      [`${b.id} ours`, b.ours],
      [`${b.id} L`, b.L],
      [`${b.id} rclone`, b.rclone],
      [`${b.id} MinIO resync`, b.minioResync],
    ];
    for (const [label, m] of runs) {
      if (!m?.componentCpuPer1000) continue;
      rows.push(
        `| ${label} | ${f((m.machineBusyShare ?? Number.NaN) * 100, 0)}% | ${f((m.otherBusyShare ?? Number.NaN) * 100, 0)}% | ${COMPONENTS.map((c) => f(m.componentCpuPer1000?.[c], 1)).join(' | ')} |`,
      );
    }
  }
  return rows.join('\n');
}

/**
 * The Temporal ceiling measured in the same run as `workload`: in a merged report, only the
 * one measured beside it (a later merge of other workloads does not make it theirs).
 */
function ceilingMeasuredWith(r: BenchResult, workload: string): BenchResult['temporalCeiling'] | undefined {
  if (!r.merged) return r.temporalCeiling;
  // BENCH_ONLY may name a part (W5a) of the workload.
  const beside = r.merged.ceilingBeside?.workloads.some((w) => w.startsWith(workload));
  return beside ? r.merged.temporalCeiling : undefined;
}

/** The W5 section of docs/BENCHMARKS.md (and of a partial run's printout). */
function backfillSection(r: BenchResult): string {
  if (!r.backfill?.length) return '';
  const settings = Object.entries(r.backfillSettings ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const errors = r.backfill.flatMap((b) =>
    Object.entries(b.errors ?? {}).map(([what, why]) => `- ${b.id} ${what} could not run: ${why}`),
  );
  const minutes = r.backfill.reduce((s, b) => s + b.durationSeconds, 0) / 60;
  const ceiling = ceilingMeasuredWith(r, 'W5');
  return `## W5: backfill of objects written before the rule

Each part writes its objects into a new versioned bucket with no rule and no notification
(so nothing is journaled), then measures, one after the other on the same stack:

- **ours**: \`replication setup\` (rule + journal notification) on the existing bucket, fresh
  worker and populator processes, then \`startBackfills\` (what \`replication backfill --bucket B\`
  calls), polled with \`backfillStatus\` until the run ends in phase \`completed\`; then a
  listing of the target must hold every object with its size. Time runs from the start call
  to the last object's COMPLETED status (written right after its PUT to the target); the time
  to the \`completed\` phase also includes reporting every outcome back to the backfill.
  Config \`backfill\`: ${settings} (defaults: concurrency=500, pageSize=1000,
  startDelaySeconds=10; the start delay is lowered since nothing else writes to these buckets,
  and it counts in the time).
- **L**: the raw streaming GET → PUT loop over the same source objects (concurrency 32 for small
  objects, 8 for large), into a bucket of its own; the engine is stopped.
- **rclone** (when installed): \`rclone copy\` of the same source objects with L's transfers,
  into a bucket of its own; the engine is stopped. Like ours here, and unlike P1 in W2, it
  copies objects already on the source: the like-for-like comparison with rclone.
- **MinIO resync**: the same objects written again into a bucket of their own; MinIO replication
  added with the same \`mc replicate add\` as P2, with \`--replicate existing-objects,delete,delete-marker\`,
  then \`mc replicate resync start\`, timed from that
  call to MinIO's own end time of the resync, once a listing of the target shows every
  object; the engine is stopped.

Objects/s and MiB/s are over the same objects and bytes, so each ratio holds for both.
The W5 parts took ${f(minutes)} min in all (writes included).${
    ceiling && Number.isFinite(ceiling.workflowsPerSecond)
      ? ` Temporal dev server ceiling measured in the same run as W5: ${f(ceiling.workflowsPerSecond)} empty workflows/s${ceiling.serverCpuMsPerWorkflow ? `, ${f(ceiling.serverCpuMsPerWorkflow)} ms of server CPU per workflow` : ''}.`
      : ''
  }

${backfillTable(r)}

CPU seconds per 1,000 objects, by component, over each run; *other jobs* is the share of all
cores that processes outside this stack used meanwhile:

${backfillCpuTable(r)}
${errors.length ? `\n${errors.join('\n')}\n` : ''}`;
}

/** "dev server" or "server on PostgreSQL, 4 shards". */
const temporalName = (t: TemporalUnderTest | undefined) =>
  t?.kind === 'server'
    ? `Temporal server on PostgreSQL, ${t.shards ?? '?'} history shard${t.shards === 1 ? '' : 's'}`
    : 'Temporal CLI dev server';

/** The configurations of a run: those it named, or the one it ran on. */
function configurationsOf(r: BenchResult): ConfigurationResult[] {
  if (r.configurations?.length) return r.configurations;
  return [
    {
      label: `${r.temporal?.kind === 'server' ? `server, ${r.temporal.shards} shards` : 'dev server'}, ${r.workerProcesses ?? 1} worker${(r.workerProcesses ?? 1) === 1 ? '' : 's'}`,
      temporal: r.temporal ?? { kind: 'dev' },
      workerProcesses: r.workerProcesses ?? 1,
      temporalCeiling: r.merged?.temporalCeiling ?? r.temporalCeiling,
      workloads: r.workloads,
      loadAverage: r.loadAverage ?? [],
      runSeconds: r.runSeconds ?? Number.NaN,
    },
  ];
}

/** The measurement of a workload that shows the engine alone: the direct journal if it ran. */
const engineAlone = (w: WorkloadResult | undefined) => w?.direct ?? w?.ours;

/** BENCH_TEMPORAL / BENCH_WORKERS with several configurations: each one's numbers side by side. */
function configurationsSection(r: BenchResult): string {
  const configs = r.configurations ?? [];
  if (configs.length < 2) return '';
  const summary = [
    '| configuration | empty workflows/s (ceiling) | Temporal CPU-ms per empty workflow | PostgreSQL CPU-ms per empty workflow | W1 obj/s | W1 / ceiling | W1 direct journal obj/s | W1 direct / ceiling | W4 latency p50/p99 ms | W4 engine p50/p99 ms | W4 direct journal engine p99 ms | worker RSS MiB (W1) | stack CPU-ms per object (W1 direct) | load average at start | minutes |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of configs) {
    const w = Object.fromEntries(c.workloads.map((x) => [x.id, x]));
    const ceiling = c.temporalCeiling.workflowsPerSecond;
    const w1 = w.W1;
    const w4 = w.W4;
    summary.push(
      `| ${c.label} | ${f(ceiling)} | ${f(c.temporalCeiling.serverCpuMsPerWorkflow)} | ${f(c.temporalCeiling.databaseCpuMsPerWorkflow)} | ${f(w1?.ours.objectsPerSecond)} | ${w1 ? ratio(w1.ours.objectsPerSecond, ceiling) : '–'} | ${f(w1?.direct?.objectsPerSecond)} | ${w1?.direct ? ratio(w1.direct.objectsPerSecond, ceiling) : '–'} | ${w4 ? `${f(w4.ours.latencyMs.p50, 0)}/${f(w4.ours.latencyMs.p99, 0)}` : '–'} | ${w4 ? `${f(w4.ours.engineMs.p50, 0)}/${f(w4.ours.engineMs.p99, 0)}` : '–'} | ${f(w4?.direct?.engineMs.p99, 0)} | ${f(w1?.ours.workerPeakRssMiB, 0)} | ${f(totalCpuMs(engineAlone(w1)?.componentCpuPer1000))} | ${c.loadAverage.map((x) => x.toFixed(2)).join(' ')} | ${f(c.runSeconds / 60)} |`,
    );
  }
  const measurements = configs.flatMap((c) =>
    c.workloads.flatMap((w) => measurementsOf(w).map(([label, o]) => [c.label, label, o] as const)),
  );
  const COMPONENTS = componentsOf(measurements.map(([, , o]) => o.componentCpuPer1000));
  const cpu = [
    `| configuration | workload | objects/s | all cores busy | ${COMPONENTS.join(' | ')} | all |`,
    `|---|---|---|---|${COMPONENTS.map(() => '---').join('|')}|---|`,
    ...measurements
      .filter(([, , o]) => o.componentCpuPer1000)
      .map(
        ([config, label, o]) =>
          `| ${config} | ${label} | ${f(o.objectsPerSecond)} | ${f((o.machineBusyShare ?? Number.NaN) * 100, 0)}% | ${COMPONENTS.map((c) => f(o.componentCpuPer1000?.[c], 1)).join(' | ')} | ${f(totalCpuMs(o.componentCpuPer1000))} |`,
      ),
  ];
  return `## Temporal servers and worker processes side by side

Measured in one run (\`${r.command ?? 'npm run bench'}\`, scale ${r.scale}${r.scale === 1 ? '' : ', NOT the full workloads'}): each
configuration on a fresh stack of its own, one after the other, the same workloads in the
same order. The peers (L, rclone, MinIO replication) do not depend on Temporal and ran with the
first configuration only. *W1 / ceiling* compares W1 with the empty-workflow ceiling of the
same server in the same run. Temporal and PostgreSQL CPU per empty workflow are over the
ceiling's timed part.

${summary.join('\n')}

CPU-ms per object (= CPU seconds per 1,000 objects) by component, each workload of each
configuration; *all* sums the components (load generator included):

${cpu.join('\n')}
`;
}

/** What each component's processes scale with, for the scale-out projection. */
const SCALES_WITH: Record<string, string> = {
  worker: 'worker processes: stateless, any number poll the same task queues',
  populator: `populator processes in one consumer group, at most one per journal partition (${JOURNAL_PARTITIONS} per source site's journal topic)`,
  kafka: 'brokers: the journal and status topics spread by partition',
  temporal:
    'Temporal hosts: history shards (fixed when the cluster is created) spread over history hosts; frontend and matching scale by host',
  postgres: "one primary: a bigger host (or Temporal's Cassandra store to spread it)",
  'temporal ui': 'nothing: idle unless someone browses',
  'minio source': "the source S3 site's own servers (the same for any replicator)",
  'minio target': "the target S3 site's own servers (the same for any replicator)",
};

/** Hosts for the projection: 8 cores each, planned at 70% busy. */
const HOST_CORES = 8;
const HOST_BUSY = 0.7;
const RATES = [100, 1000, 10000];

/**
 * Scale-out: how throughput grows with hosts of each kind, projected from the CPU per object
 * of each component measured in this run (W1, the engine alone where the direct-journal run
 * exists), per Temporal kind measured.
 */
function scaleOutSection(r: BenchResult): string {
  const byKind = new Map<string, ConfigurationResult>();
  for (const c of configurationsOf(r)) {
    const key = c.temporal.kind === 'server' ? `server ${c.temporal.shards}` : 'dev';
    if (!byKind.has(key)) byKind.set(key, c);
  }
  const tables: string[] = [];
  for (const c of byKind.values()) {
    const w1 = c.workloads.find((w) => w.id === 'W1');
    const o = engineAlone(w1);
    if (!w1 || !o?.componentCpuPer1000) continue;
    const which = w1.direct ? 'W1 direct journal' : 'W1';
    const components = componentsOf([o.componentCpuPer1000]).filter(
      (x) => x !== 'load generator' && (o.componentCpuPer1000?.[x] ?? 0) > 0,
    );
    const engineComponents = components.filter((x) => !x.startsWith('minio'));
    const rows = components.map((x) => {
      const ms = o.componentCpuPer1000![x]!;
      const hosts = (rate: number) => Math.ceil((rate * ms) / 1000 / (HOST_CORES * HOST_BUSY));
      const scales =
        x === 'temporal' && c.temporal.kind === 'dev'
          ? 'nothing: the dev server is one process with one history shard (deployments run the server, whose cost `BENCH_TEMPORAL=both` measures)'
          : (SCALES_WITH[x] ?? '');
      return `| ${x} | ${scales} | ${f(ms)} | ${f(1000 / ms, 0)} | ${RATES.map((rate) => `${f((rate * ms) / 1000)} / ${hosts(rate)}`).join(' | ')} |`;
    });
    const engineMs = engineComponents.reduce((sum, x) => sum + o.componentCpuPer1000![x]!, 0);
    const db = o.componentCpuPer1000.postgres;
    const populatorMs = o.componentCpuPer1000.populator;
    tables.push(`**${temporalName(c.temporal)}** (configuration *${c.label}*; CPU per object measured in
${which}, ${f(o.objectsPerSecond)} objects/s on ${r.machine.split(',')[0]}; everything right of it projected):

| component | scales with | CPU-ms per object (measured) | objects/s per core | ${RATES.map((rate) => `${rate.toLocaleString('en-US')} obj/s: cores / ${HOST_CORES}-core hosts`).join(' | ')} |
|---|---|---|---|${RATES.map(() => '---').join('|')}|
${rows.join('\n')}

The engine side (every component above but the S3 sites) costs ${f(engineMs)} CPU-ms per object:
${f(1000 / engineMs, 0)} objects/s per core, ${f((HOST_CORES * HOST_BUSY * 1000) / engineMs, 0)} per ${HOST_CORES}-core host at ${HOST_BUSY * 100}% if everything shared one kind of host.${
      db
        ? ` PostgreSQL, the one part that does not spread over hosts, allows about ${f((HOST_CORES * HOST_BUSY * 1000) / db, 0)} objects/s per ${HOST_CORES} cores of its primary at this cost.`
        : ''
    }${
      populatorMs
        ? ` A populator is one Node.js process (about one core): ${JOURNAL_PARTITIONS} partitions allow ${JOURNAL_PARTITIONS} of them per source site, about ${f((JOURNAL_PARTITIONS * 1000) / populatorMs, 0)} objects/s per source site at this cost; beyond that the journal topic needs more partitions.`
        : ''
    }${
      c.temporal.kind === 'dev'
        ? ' The dev server does not scale out at all (one process, one history shard, one SQLite connection): its row is what one workflow costs it, and it caps a stack at its ceiling.'
        : ''
    }`);
  }
  const measured = (r.configurations ?? []).length > 1;
  return `## Scale-out

**How to measure it here.** Every configuration runs on a fresh stack of its own; several in one
run appear side by side (the section above, when the run had more than one):

\`\`\`sh
BENCH_TEMPORAL=both BENCH_ONLY=ceiling,W1,W4 npm run bench              # dev server vs the server on PostgreSQL (CRR_TEMPORAL_SHARDS, default 4)
BENCH_TEMPORAL=server:1,server:4 BENCH_ONLY=ceiling,W1 npm run bench    # 1 vs 4 history shards
BENCH_WORKERS=1,2 BENCH_ONLY=ceiling,W1 npm run bench                   # 1 vs 2 worker processes (one populator)
BENCH_TEMPORAL=dev,server:4 BENCH_WORKERS=1,2 npm run bench             # every combination, all workloads
\`\`\`

\`BENCH_TEMPORAL\` takes \`dev\`, \`server\`, \`server:<shards>\`, \`both\` (= \`dev,server\`) or a list;
\`BENCH_WORKERS\` a number of worker processes or a list. With \`BENCH_ONLY\` the report is printed
(and written to \`$TMPDIR\`), not to this file; \`BENCH_MERGE\` merges the first configuration into
a full run and keeps the side-by-side section. CPU by component counts every process of the
stack: under \`CRR_TEMPORAL=server\` the server (\`temporal\`), its Web UI (\`temporal ui\`) and
PostgreSQL (\`postgres\`: the postmaster and all its backends).

**What this machine can show.** It has ${r.machine.split(',')[0]}, shared by every component. A second worker
process or more history shards can only show their overhead or a better use of the same cores
(fewer stalls on one process's event loop or one shard's lock), not added capacity: scale-out
needs hosts. ${measured ? 'The side-by-side numbers above are measured.' : 'This run measured one configuration; the side-by-side comparison needs a run with several (above).'}

**Projection for N hosts (projected, not measured).** Each component's CPU per replicated 4 KiB
object, measured in this run, gives its objects/s per core and so the cores (and ${HOST_CORES}-core hosts,
planned at ${HOST_BUSY * 100}% busy) that N objects/s needs. This assumes that the cost per object stays
what it is here when the work is spread: no coordination cost grows with the hosts, the
network between hosts is not the limit, and the disks keep up (Kafka and PostgreSQL write
every object). History shards must be at least the history hosts (more spreads the load
evenly; they cannot change later), journal partitions (${JOURNAL_PARTITIONS}) cap the populator processes
per source site, and each history shard is owned by one history host at a time, so the
shard count bounds how far the history service spreads (the 1 vs 4 shard comparison measures
what more shards cost or gain on one host).

${tables.join('\n\n') || 'No W1 with CPU by component in this run: nothing to project from.'}
`;
}

/** Prints the table and writes bench/results/<date>.json and docs/BENCHMARKS.md. */
export async function writeReport(r: BenchResult, log: (line: string) => void): Promise<void> {
  const stamp = r.date.replace(/[:.]/g, '-');
  if (r.only) {
    const json = path.join(os.tmpdir(), `crr-bench-${r.only.join('-')}-${stamp}.json`);
    fs.writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
    log(
      `\n${table(r)}\n\n${cpuTable(r)}\n\n${backfillSection(r)}\n\n${configurationsSection(r)}\n\n${scaleOutSection(r)}\n\npartial run (BENCH_ONLY=${r.only.join(',')}): ${json}; docs/BENCHMARKS.md unchanged`,
    );
    return;
  }
  const json = path.join(repoRoot, 'bench', 'results', `${stamp}.json`);
  fs.mkdirSync(path.dirname(json), { recursive: true });
  fs.writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  const checks = targets(r)
    .map(
      ([what, value, ok]) =>
        `| ${what} | ${value} | ${ok === undefined ? '–' : ok ? 'met' : '**not met**'} |`,
    )
    .join('\n');
  const analysis = fs.existsSync(path.join(repoRoot, 'bench', 'ANALYSIS.md'))
    ? fs.readFileSync(path.join(repoRoot, 'bench', 'ANALYSIS.md'), 'utf8')
    : '';
  const generated = r.merged
    ? `Generated by \`npm run bench\`: ${r.merged.measured.join(', ')} measured on ${r.date} with
\`${r.command ?? 'npm run bench'}\`${(r.merged.earlier ?? []).map((e) => `, ${e.measured.join(', ')} on ${e.date}`).join('')} and merged into the full run of ${r.merged.baseDate}
(\`bench/results/${r.merged.base}\`), from which everything else comes (scale ${r.scale}${r.scale === 1 ? ', the full workloads' : ', NOT the full workloads'}),`
    : `Generated by \`${r.command ?? 'npm run bench'}\` on ${r.date} (scale ${r.scale}${r.scale === 1 ? ', the full workloads' : ', NOT the full workloads'}${r.runSeconds ? `, ${f(r.runSeconds / 60, 0)} min` : ''}),`;
  const md = `# Benchmarks

${generated}
${r.machine}; every component local (${temporalName(r.temporal)}${(r.workerProcesses ?? 1) > 1 ? `, ${r.workerProcesses} worker processes` : ''}, one Kafka broker, two MinIO
servers on one disk). Raw numbers: \`bench/results/${path.basename(json)}\`.

Throughput runs from the first PUT to the last COMPLETED status. Latency is journal event
time (MinIO's \`eventTime\`) → COMPLETED, split into *journal delivery* (event time → the
record's Kafka append time: MinIO's share) and *engine* (Kafka append → COMPLETED: ours).
RSS is the peak sampled every 100 ms; CPU is worker + populator user+system time.
Engine settings: ${Object.entries(r.engineSettings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}.
Peers: L = plain streaming GET→PUT loop with the same SDK and concurrency (32 for W1, 8 for W2),
timed on the copy alone over objects already on the source; *L same window* = the same loop,
each object copied as soon as its source PUT returns, timed like ours from the first PUT to the
last copy (the source upload counts for both);
P1 = \`${r.peers.rclone}\` \`copy\` with the same transfers; P2 = MinIO bucket replication set up with \`mc\` (${r.peers.mc}).
For W2 and W2p the ratio columns compare MiB/s, elsewhere objects/s.

${r.temporal?.kind === 'server' ? 'Temporal server' : 'Temporal dev server'} ceiling, measured in the same run: **${f(r.temporalCeiling.workflowsPerSecond)} empty workflows/s**
(signal-with-start of a workflow that completes on its signal, no activity; 64 concurrent calls)${
    r.temporalCeiling.serverCpuMsPerWorkflow
      ? `, with the server using **${f(r.temporalCeiling.serverCpuMsPerWorkflow)} ms of CPU per workflow**${r.temporalCeiling.databaseCpuMsPerWorkflow === undefined ? '' : ` and PostgreSQL **${f(r.temporalCeiling.databaseCpuMsPerWorkflow)} ms**`}`
      : ''
  }.${
    r.merged?.temporalCeiling && r.merged.ceilingBeside
      ? ` ${r.merged.ceilingBeside.workloads.join(', ')}, measured on ${r.merged.ceilingBeside.date}, ran beside a ceiling of **${f(r.merged.temporalCeiling.workflowsPerSecond)} empty workflows/s** measured with ${r.merged.ceilingBeside.workloads.length === 1 ? 'it' : 'them'}.`
      : ''
  }

${table(r)}

CPU seconds per 1,000 objects, by component, over each run (every process of the stack; the
machine has ${r.machine.split(',')[0]}):

${cpuTable(r)}

${backfillSection(r)}

${configurationsSection(r)}

${scaleOutSection(r)}

## Targets

| target | measured | |
|---|---|---|
${checks}

${analysis}`;
  // Formatted like the rest of the docs, so the lint step of `npm test` accepts the report.
  const report = path.join(repoRoot, 'docs', 'BENCHMARKS.md');
  const options = await prettier.resolveConfig(report);
  fs.writeFileSync(report, await prettier.format(md, { ...options, filepath: report }));
  log(
    `\n${table(r)}\n\n${cpuTable(r)}\n\n${backfillSection(r)}\n\n${targets(r)
      .map(([w, v, ok]) => `${ok ? 'met    ' : 'NOT MET'}  ${w}: ${v}`)
      .join('\n')}`,
  );
  log(`results: ${json}; report: docs/BENCHMARKS.md`);
}

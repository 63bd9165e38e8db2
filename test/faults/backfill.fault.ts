/**
 * Backfill under faults: 10,000 keys written before the rule (every 5th key 3 versions, every
 * 11th key deleted, every 33rd put again after its delete marker), then `replication backfill
 * --detach` as a real process while live puts and deletes change a random subset of the same
 * keys; the worker process is killed -9 when the backfill has submitted about 40% of the
 * versions and restarted 5 s later. Once the backfill completed and the live writes drained:
 * the per-key check of both buckets' whole histories, `diffBucket` (nothing, then exactly one
 * replica deleted on purpose) and `replication diff` as a process (exit 1).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import pLimit from 'p-limit';
import { backfillStatus, listBackfills, type BackfillStatus } from '../../operations/backfill';
import { diffBucket, type DiffFinding } from '../../operations/diff';
import {
  BACKFILL_MEMO,
  reportedCount,
  type BackfillProgress,
  type BackfillState,
} from '../../shared/backfill';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { runReplicationCli } from '../support/cli-process';
import { listKeyHistory } from '../support/ordered-versions';
import { ScenarioEngine } from './support/engine';
import type { FaultStack } from './support/fault-stack';
import { LoadGenerator, loadKeys, type LoadOp } from './support/load';
import { CpuMeter, stackClassifier } from './support/cpu';
import { scenario, sleep, useFaultStack } from './support/scenario';
import { settleAndCheck } from './support/settle';

const stack = useFaultStack('backfill');

/** Keys written before the rule (FAULT_BACKFILL_KEYS, default 10,000; fewer for quick trials). */
const KEYS = Math.max(100, Number(process.env.FAULT_BACKFILL_KEYS ?? '10000') || 10_000);
/** Keys the live traffic changes during the backfill, and its rate. */
const LIVE_KEYS = Math.min(300, Math.floor(KEYS / 10));
const LIVE_RATE = 3;
/** The worker is killed once this share of the versions written before the rule was submitted. */
const KILL_AT = 0.4;
const DOWN_MS = 5_000;
const MAX_BODY = 4096;

interface Existing {
  keys: number;
  versions: number;
  deleteMarkers: number;
  bytes: number;
  ms: number;
  /** Keys whose latest is an object (the live traffic may delete them at once). */
  objects: string[];
}

/**
 * The bucket's life before the rule: key i gets 3 versions when i % 5 == 0 (1 otherwise), a
 * delete marker when i % 11 == 0, and a version above that marker when i % 33 == 0. Keys are
 * written 32 at a time, each key's changes one after the other.
 */
async function writeExisting(s3: S3Client, bucket: string, keys: string[]): Promise<Existing> {
  const started = Date.now();
  const limit = pLimit(32);
  const out: Existing = { keys: keys.length, versions: 0, deleteMarkers: 0, bytes: 0, ms: 0, objects: [] };
  const put = async (key: string) => {
    const size = 100 + Math.floor(Math.random() * (MAX_BODY - 99));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: randomBytes(size) }));
    out.versions += 1;
    out.bytes += size;
  };
  await Promise.all(
    keys.map((key, i) =>
      limit(async () => {
        for (let v = 0; v < (i % 5 === 0 ? 3 : 1); v++) await put(key);
        let latestIsObject = true;
        if (i % 11 === 0) {
          await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
          out.deleteMarkers += 1;
          latestIsObject = false;
          if (i % 33 === 0) {
            await put(key);
            latestIsObject = true;
          }
        }
        if (latestIsObject) out.objects.push(key);
      }),
    ),
  );
  out.ms = Date.now() - started;
  return out;
}

interface Sample {
  /** When the reading began and when it returned (the state is from in between). */
  readAt: number;
  at: number;
  runStatus: string;
  phase?: string;
  listed: number;
  submitted: number;
  reported: number;
  keyMarker?: string;
}

/** The backfill's progress once a second: the workflow's query, or its memo while no worker answers. */
class BackfillSampler {
  readonly samples: Sample[] = [];
  errors = 0;
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly temporal: Client,
    private readonly workflowId: string,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const readAt = Date.now();
        const status = await this.read().catch(() => undefined);
        if (status) this.add(readAt, status);
        else this.errors += 1;
        await sleep(1_000);
      }
    })();
  }

  /** backfillStatus, but never more than 3 s: a query no worker answers falls back to the memo. */
  private async read(): Promise<BackfillStatus | undefined> {
    const fresh = backfillStatus(this.temporal, this.workflowId);
    const late = await Promise.race([fresh, sleep(3_000).then(() => undefined)]);
    if (late) return late;
    void fresh.catch(() => undefined);
    const d = await this.temporal.workflow.getHandle(this.workflowId).describe();
    const memo = d.memo?.[BACKFILL_MEMO] as Partial<BackfillState> | undefined;
    return { workflowId: this.workflowId, runStatus: d.status.name, startTime: '', ...memo };
  }

  private add(readAt: number, status: BackfillStatus): void {
    const p = status.progress;
    this.samples.push({
      readAt,
      at: Date.now(),
      runStatus: status.runStatus,
      phase: p?.phase,
      listed: p?.listed ?? 0,
      submitted: p?.submitted ?? 0,
      reported: p ? reportedCount(p) : 0,
      keyMarker: p?.keyMarker,
    });
  }

  get last(): Sample | undefined {
    return this.samples.at(-1);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Waits until a sample satisfies `done`; the sample, or undefined at the deadline. */
  async until(done: (s: Sample) => boolean, timeoutMs: number): Promise<Sample | undefined> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    while (Date.now() < deadline) {
      for (; seen < this.samples.length; seen++) if (done(this.samples[seen]!)) return this.samples[seen];
      await sleep(200);
    }
    return undefined;
  }

  /** Highest submitted and reported counts seen up to `at`. */
  highest(at: number): { submitted: number; reported: number } {
    let submitted = 0;
    let reported = 0;
    for (const s of this.samples) {
      if (s.at > at) break;
      submitted = Math.max(submitted, s.submitted);
      reported = Math.max(reported, s.reported);
    }
    return { submitted, reported };
  }

  /**
   * First sample after `from` that went past every count seen until then: nothing moves while
   * the worker is down, so what a lagging memo shows afterwards was reached before the kill.
   */
  firstIncreaseAfter(from: number, field: 'submitted' | 'either'): number | undefined {
    const before = this.highest(from);
    return this.samples.find(
      (s) =>
        s.at > from &&
        (s.submitted > before.submitted || (field === 'either' && s.reported > before.reported)),
    )?.at;
  }

  /** Longest time between `from` and `to` during which no outcome came back to the backfill. */
  longestStall(from: number, to: number): number {
    let longest = 0;
    let since = from;
    let reported = this.highest(from).reported;
    for (const s of this.samples) {
      if (s.at <= from || s.at > to) continue;
      if (s.reported > reported) {
        longest = Math.max(longest, s.at - since);
        since = s.at;
        reported = s.reported;
      }
    }
    return Math.max(longest, to - since);
  }

  /** Every sample, one JSON line each (kept with the scenario's logs). */
  writeLog(file: string): void {
    fs.writeFileSync(file, this.samples.map((x) => JSON.stringify(x)).join('\n') + '\n');
  }
}

/**
 * Waits (up to `timeoutMs`) until the backfill's page activity has started on a worker:
 * listed its page and signalling the keys. What Temporal shows of it, or why not.
 */
async function pageInFlight(
  temporal: Client,
  workflowId: string,
  timeoutMs: number,
): Promise<{ started: boolean; waitedMs: number; attempt?: number; heartbeat?: unknown }> {
  const started = Date.now();
  for (;;) {
    const d = await temporal.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => undefined);
    const page = d?.raw.pendingActivities?.find((a) => a.activityType?.name === 'submitBackfillPage');
    // PENDING_ACTIVITY_STATE_STARTED = 2
    if (page && Number(page.state) === 2)
      return {
        started: true,
        waitedMs: Date.now() - started,
        attempt: page.attempt ?? undefined,
        heartbeat: decodePayload(page.heartbeatDetails?.payloads?.[0]?.data),
      };
    if (Date.now() - started > timeoutMs) return { started: false, waitedMs: Date.now() - started };
    await sleep(50);
  }
}

/** A JSON payload's value (heartbeat details), or undefined. */
function decodePayload(data: Uint8Array | null | undefined): unknown {
  try {
    return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** Pages the backfill submitted, its runs (continue-as-new) and activity attempts beyond the first. */
async function activityFacts(
  temporal: Client,
  workflowId: string,
): Promise<{
  runs: number;
  events: number;
  pages: number;
  pageMs: { median?: number; p90?: number; max?: number };
  retries: Record<string, number>;
  lastFailures: string[];
}> {
  const retries: Record<string, number> = {};
  const pageMs: number[] = [];
  let events = 0;
  const lastFailures: string[] = [];
  let runs = 0;
  let pages = 0;
  for await (const run of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs += 1;
    const history = await temporal.workflow.getHandle(workflowId, run.runId).fetchHistory();
    const types = new Map<string, string>();
    const startedAt = new Map<string, number>();
    const time = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
      Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
    for (const e of history.events ?? []) {
      events += 1;
      const done = e.activityTaskCompletedEventAttributes;
      if (done && types.get(String(done.scheduledEventId)) === 'submitBackfillPage') {
        const from = startedAt.get(String(done.startedEventId));
        if (from !== undefined) pageMs.push(time(e) - from);
      }
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled) {
        const type = scheduled.activityType?.name ?? '?';
        types.set(String(e.eventId), type);
        if (type === 'submitBackfillPage') pages += 1;
      }
      const attempt = e.activityTaskStartedEventAttributes;
      if (attempt) startedAt.set(String(e.eventId), time(e));
      if (attempt && (attempt.attempt ?? 1) > 1) {
        const type = types.get(String(attempt.scheduledEventId)) ?? '?';
        retries[type] = (retries[type] ?? 0) + (attempt.attempt ?? 1) - 1;
        if (attempt.lastFailure?.message) lastFailures.push(`${type}: ${attempt.lastFailure.message}`);
      }
    }
  }
  pageMs.sort((a, b) => a - b);
  const at = (q: number) =>
    pageMs.length ? pageMs[Math.min(pageMs.length - 1, Math.floor(q * pageMs.length))] : undefined;
  return {
    runs,
    events,
    pages,
    pageMs: { median: at(0.5), p90: at(0.9), max: pageMs.at(-1) },
    retries,
    lastFailures: lastFailures.slice(0, 5),
  };
}

/**
 * The distinct source entries the scan can have listed: every one written before the rule,
 * and at most the live changes made before the scan ended (MinIO may serve a continued
 * listing from its listing cache, so which of those it saw cannot be told from the times).
 */
function expectedSubmissions(
  existing: Existing,
  ops: LoadOp[],
  sampler: BackfillSampler,
): { min: number; max: number; liveBeforeScanEnd: number } {
  const scanEnd =
    sampler.samples.find((x) => x.phase !== undefined && x.phase !== 'starting' && x.phase !== 'scanning')
      ?.at ?? Number.POSITIVE_INFINITY;
  const liveBeforeScanEnd = ops.filter((o) => !o.error && o.versionId && o.at < scanEnd).length;
  const min = existing.versions + existing.deleteMarkers;
  return { min, max: min + liveBeforeScanEnd, liveBeforeScanEnd };
}

/**
 * Versions from before the rule that the worker applied more than once (its log's
 * "replicated" lines; live versions are left out: the journal and the backfill both bring
 * them by design). Applied by the killed worker and again by its successor: a re-execution
 * after the kill, expected. Applied twice by one worker process: the task was delivered
 * again after its key's workflow had finished with it (a retried page signals again the keys
 * it had signalled out of order), and the new run reports a second outcome to the backfill.
 */
function appliedTwice(
  workerLog: string,
  ops: LoadOp[],
): { redelivered: number; redeliveredKeys: string[]; reExecutedAfterKill: number } {
  const live = new Set(ops.map((o) => o.versionId).filter(Boolean));
  const applied = new Map<string, number[]>();
  for (const line of fs.readFileSync(workerLog, 'utf8').split('\n')) {
    if (!line.includes('"msg":"replicated"')) continue;
    try {
      const j = JSON.parse(line) as { key?: string; versionId?: string; operation?: string; pid?: number };
      if (!j.versionId || live.has(j.versionId)) continue;
      const id = `${j.key}\u0000${j.versionId}\u0000${j.operation}`;
      applied.set(id, [...(applied.get(id) ?? []), j.pid ?? 0]);
    } catch {
      // not a JSON line
    }
  }
  const twice = [...applied].filter(([, pids]) => pids.length > 1);
  const redelivered = twice.filter(([, pids]) => new Set(pids).size < pids.length);
  return {
    redelivered: redelivered.length,
    redeliveredKeys: [...new Set(redelivered.map(([id]) => id.split('\u0000')[0]!))].slice(0, 10),
    reExecutedAfterKill: twice.length - redelivered.length,
  };
}

/**
 * The runs of some keys' workflows: when each started and ended, and the report signals each
 * sent to the backfill (and how many Temporal refused): what a failure message needs to tell
 * a re-delivered task from a lost or doubled outcome.
 */
async function keyRuns(
  temporal: Client,
  engine: ScenarioEngine,
  keys: string[],
): Promise<
  Record<string, Array<{ status: string; start: string; close?: string; reports: number; refused: number }>>
> {
  const out: Record<
    string,
    Array<{ status: string; start: string; close?: string; reports: number; refused: number }>
  > = {};
  for (const key of keys.slice(0, 5)) {
    const workflowId = replicationWorkflowId(engine.site, engine.sourceBucket, key);
    const runs = (out[key] = [] as (typeof out)[string]);
    for await (const r of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      const history = await temporal.workflow.getHandle(workflowId, r.runId).fetchHistory();
      let reports = 0;
      let refused = 0;
      for (const e of history.events ?? []) {
        if (e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'backfillReports')
          reports++;
        if (e.signalExternalWorkflowExecutionFailedEventAttributes) refused++;
      }
      runs.push({
        status: r.status.name,
        start: r.startTime.toISOString(),
        ...(r.closeTime ? { close: r.closeTime.toISOString() } : {}),
        reports,
        refused,
      });
    }
  }
  return out;
}

async function diffAll(
  s: FaultStack,
  engine: ScenarioEngine,
): Promise<{ findings: DiffFinding[]; ms: number; keys: number }> {
  const started = Date.now();
  const findings: DiffFinding[] = [];
  let keys = 0;
  for await (const f of diffBucket(engine.config, {
    bucket: engine.sourceBucket,
    site: engine.site,
    prefix: '',
    source: s.source,
    target: s.target,
    onKey: (n) => (keys = n),
  }))
    findings.push(f);
  return { findings, ms: Date.now() - started, keys };
}

const describeDiff = (findings: DiffFinding[]) =>
  findings
    .slice(0, 10)
    .map(
      (f) =>
        `  ${f.kind} ${JSON.stringify(f.key)}${f.versionId ? ` version ${f.versionId}` : ''}: ${f.detail}`,
    )
    .join('\n') + (findings.length > 10 ? `\n  … ${findings.length - 10} more` : '');

function shuffle<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

scenario(
  {
    id: 'backfill-kill-worker',
    title: `backfill of ${KEYS.toLocaleString('en')} keys written before the rule, with live writes to the same keys; the worker killed -9 at ${KILL_AT * 100}% submitted, restarted after ${DOWN_MS / 1000} s`,
    timeoutMs: 70 * 60_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'backfill-kill-worker'));

    // 1. The bucket's history before the rule: versioned, never journaled (no notification yet).
    await s.source.send(new CreateBucketCommand({ Bucket: engine.sourceBucket }));
    await s.source.send(
      new PutBucketVersioningCommand({
        Bucket: engine.sourceBucket,
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    const keys = loadKeys(KEYS, 'bf/');
    const existing = await writeExisting(s.source, engine.sourceBucket, keys);
    const existingEntries = existing.versions + existing.deleteMarkers;
    run.facts.existing = {
      keys: existing.keys,
      versions: existing.versions,
      deleteMarkers: existing.deleteMarkers,
      bytes: existing.bytes,
      writeSeconds: round(existing.ms / 1000),
      writesPerSecond: Math.round((existingEntries / existing.ms) * 1000),
    };
    process.stderr.write(
      `[faults] backfill: ${existingEntries} versions and delete markers on ${KEYS} keys written in ${existing.ms} ms\n`,
    );

    // 2. The rule (`replication setup`), the worker and the populator; then the backfill, by the CLI.
    await engine.start();
    const cliStarted = Date.now();
    const cli = await runReplicationCli(
      engine.configPath,
      ['backfill', '--bucket', engine.sourceBucket, '--detach'],
      120_000,
    );
    const workflowId = /\(workflow (\S+)\)/.exec(cli.stdout)?.[1];
    run.facts.backfillCli = { code: cli.code, ms: Date.now() - cliStarted, stdout: cli.stdout.trim() };
    if (cli.code !== 0 || !workflowId)
      throw new Error(
        `replication backfill --detach exited ${cli.code} without naming its workflow:\n${cli.stdout}\n${cli.stderr}`,
      );
    const sampler = new BackfillSampler(s.temporal, workflowId);
    sampler.start();

    // 3. Live traffic on a random subset of the same keys once the scan began (after the start
    // delay, by which every worker knows the backfill covers them).
    const scanning = await sampler.until((x) => x.phase !== undefined && x.phase !== 'starting', 120_000);
    if (!scanning)
      throw new Error(`the backfill never left its start delay: ${JSON.stringify(sampler.last)}`);
    const cpu = new CpuMeter(stackClassifier(s.dir, engine.configPath));
    cpu.start();
    const liveKeys = shuffle(keys).slice(0, LIVE_KEYS);
    const load = new LoadGenerator(s.source, engine.sourceBucket, liveKeys, {
      rate: LIVE_RATE,
      largeShare: 0,
      objects: existing.objects,
    });
    load.start();

    // Kill -9 of the worker mid-backfill, restarted in place.
    const due = await sampler.until((x) => x.submitted >= KILL_AT * existingEntries, 20 * 60_000);
    if (!due)
      throw new Error(
        `the backfill never submitted ${KILL_AT * 100}% of ${existingEntries} versions: ${JSON.stringify(sampler.last)}`,
      );
    // Preferably while a page is being submitted (its activity started: listed, signalling).
    const inFlight = await pageInFlight(s.temporal, workflowId, 60_000);
    const killedAt = await engine.worker.kill9();
    const atKill = sampler.highest(killedAt);
    run.facts.kill = {
      submitted: atKill.submitted,
      reported: atKill.reported,
      share: round(atKill.submitted / existingEntries, 2),
      pageInFlight: inFlight,
    };
    await sleep(DOWN_MS);
    await engine.worker.restart();
    const readyAt = Date.now();
    run.recovery.downMs = readyAt - killedAt;

    // 4. The backfill ends; the live traffic stops; everything settles.
    const ended = await sampler.until((x) => x.runStatus !== 'RUNNING', 40 * 60_000);
    const cpuUse = cpu.stop();
    await load.stop();
    run.facts.load = load.summary();
    load.writeLog(`${engine.dir}/load-ops.jsonl`);
    await sampler.stop();
    sampler.writeLog(`${engine.dir}/backfill-progress.jsonl`);
    const status = await backfillStatus(s.temporal, workflowId);
    const p: BackfillProgress | undefined = status.progress;
    run.expect(
      ended !== undefined && status.runStatus === 'COMPLETED' && p?.phase === 'completed',
      `the backfill did not complete: ${status.runStatus}, ${JSON.stringify(p)}`,
    );
    run.expect(
      engine.worker.running && engine.populator.running,
      `an engine process exited on its own (worker ${engine.worker.running ? 'running' : 'EXITED'}, populator ${engine.populator.running ? 'running' : 'EXITED'}); last lines:\n${[
        ...engine.worker.grep(/./, 10),
        ...engine.populator.grep(/./, 10),
      ].join('\n')}`,
    );
    const check = await settleAndCheck(s, engine, { deleteMarkers: true, deadlineMs: 300_000 });
    run.check(check);

    // 5. Figures: duration, rate, progress, recovery, versions submitted twice.
    if (p) {
      const scanFrom = Date.parse(p.scanStartedAt ?? p.startedAt);
      const finished = Date.parse(p.finishedAt ?? status.closeTime ?? new Date().toISOString());
      run.recovery.backfillMs = finished - Date.parse(p.startedAt);
      run.recovery.scanToEndMs = finished - scanFrom;
      run.facts.progress = {
        listed: p.listed,
        skipped: p.skipped,
        submitted: p.submitted,
        replicated: p.replicated,
        alreadyReplicated: p.alreadyReplicated,
        notReplicated: p.notReplicated,
        failed: p.failed,
        skippedFailed: p.skippedFailed,
        totalVersions: p.totalVersions,
        replicatedBytes: p.replicatedBytes,
      };
      // Where the time went: CPU seconds per component from the scan's start to the end.
      run.facts.cpu = {
        ...cpuUse,
        msPerVersion: Object.fromEntries(
          Object.entries(cpuUse.components).map(([c, sec]) => [
            c,
            round((sec * 1000) / Math.max(1, p.submitted)),
          ]),
        ),
      };
      run.facts.versionsPerSecond = round(p.submitted / Math.max(0.001, (finished - scanFrom) / 1000));
      run.facts.replicatedPerSecond = round(p.replicated / Math.max(0.001, (finished - scanFrom) / 1000));
      const expected = expectedSubmissions(existing, load.ops, sampler);
      const sourceEntries = check.sourceVersions + check.sourceDeleteMarkers;
      const twice = appliedTwice(engine.worker.logFile, load.ops);
      run.facts.submissions = {
        existingEntries,
        liveChanges: load.ops.filter((o) => !o.error).length,
        liveBeforeTheScanEnded: expected.liveBeforeScanEnd,
        distinctListable: `${expected.min}-${expected.max}`,
        submitted: p.submitted,
        liveListedByTheScan: p.submitted - existingEntries,
        submittedTwice: Math.max(0, p.submitted - expected.max),
        notSubmitted: Math.max(0, expected.min - p.submitted),
        reported: reportedCount(p),
        sourceEntriesAtTheEnd: sourceEntries,
        existingAppliedTwice: twice,
      };
      if (twice.redelivered > 0)
        run.facts.redeliveredKeyRuns = await keyRuns(s.temporal, engine, twice.redeliveredKeys).catch(
          (err: unknown) => (err as Error).message,
        );
      run.facts.activities = await activityFacts(s.temporal, workflowId).catch(
        (err: unknown) => (err as Error).message,
      );
      const resumed = sampler.firstIncreaseAfter(readyAt, 'either');
      const resubmitted = sampler.firstIncreaseAfter(readyAt, 'submitted');
      run.recovery.resumeMs = resumed === undefined ? undefined : resumed - readyAt;
      run.recovery.submitResumeMs = resubmitted === undefined ? undefined : resubmitted - readyAt;
      run.recovery.longestStallMs = sampler.longestStall(scanFrom, finished);
      run.expect(
        resumed !== undefined,
        `the backfill's progress never increased after the worker restarted at ${new Date(readyAt).toISOString()} (last: ${JSON.stringify(sampler.last)})`,
      );
      const why = `progress ${JSON.stringify(run.facts.progress)}; submissions ${JSON.stringify(run.facts.submissions)}`;
      run.expect(p.failed === 0 && p.skippedFailed === 0, `the backfill reports failed versions: ${why}`);
      run.expect(
        p.notReplicated === 0,
        `the backfill reports ${p.notReplicated} version(s) not replicated (every version it listed can be): ${why}`,
      );
      run.expect(
        p.skipped === 0 && p.listed === p.submitted,
        `the backfill skipped ${p.skipped} of ${p.listed} listed versions (the rule covers every one): ${why}`,
      );
      run.expect(
        reportedCount(p) === p.submitted,
        `submitted ${p.submitted} versions but ${reportedCount(p)} outcomes came back: each submitted version must be reported exactly once; ${why}`,
      );
      run.expect(
        p.submitted <= expected.max,
        `submitted ${p.submitted} versions, more than the ${expected.max} distinct ones the scan could list: ${p.submitted - expected.max} counted twice; ${why}`,
      );
      run.expect(
        p.submitted >= expected.min,
        `submitted ${p.submitted} versions, fewer than the ${expected.min} the scan must have listed (${existingEntries} from before the rule): ${why}`,
      );
      run.expect(
        p.totalVersions !== undefined && p.totalVersions >= existingEntries,
        `the scope count (totalVersions ${p.totalVersions}) is below the ${existingEntries} versions written before the rule`,
      );
      const listed = (await listBackfills(s.temporal, { bucket: engine.sourceBucket })).find(
        (b) => b.workflowId === workflowId,
      );
      run.expect(
        listed?.runStatus === 'COMPLETED' && listed.progress?.submitted === p.submitted,
        `listBackfills does not show the completed backfill with its numbers: ${JSON.stringify(listed)}`,
      );
    }

    // 6. diff: nothing; then one replica deleted on purpose is reported, alone, as missing.
    const clean = await diffAll(s, engine);
    run.facts.diff = { keys: clean.keys, seconds: round(clean.ms / 1000), findings: clean.findings.length };
    run.expect(
      clean.findings.length === 0,
      `diffBucket reports ${clean.findings.length} difference(s) after the backfill:\n${describeDiff(clean.findings)}`,
    );
    const live = new Set(liveKeys);
    const victim = keys.find((k, i) => i >= 7 && i % 5 === 0 && i % 11 !== 0 && !live.has(k))!;
    const targetHistory = await listKeyHistory(s.target, engine.targetBucket, victim);
    const sourceHistory = await listKeyHistory(s.source, engine.sourceBucket, victim);
    const replica = targetHistory.at(-1);
    if (replica?.kind !== 'version') throw new Error(`${victim}: the target's latest is not a version`);
    await s.target.send(
      new DeleteObjectCommand({ Bucket: engine.targetBucket, Key: victim, VersionId: replica.versionId }),
    );
    const broken = await diffAll(s, engine);
    const sourceLatest = sourceHistory.at(-1)?.versionId;
    // Compared with the first diff, so that a version the engine lost is not counted twice.
    const id = (f: DiffFinding) => `${f.kind}|${f.key}|${f.versionId ?? ''}`;
    const before = new Set(clean.findings.map(id));
    const after = new Set(broken.findings.map(id));
    const added = broken.findings.filter((f) => !before.has(id(f)));
    const vanished = clean.findings.filter((f) => !after.has(id(f)));
    run.facts.diffAfterDelete = {
      key: victim,
      deletedReplica: replica.versionId,
      seconds: round(broken.ms / 1000),
      added: added.map((f) => ({ kind: f.kind, key: f.key, versionId: f.versionId })),
    };
    run.expect(
      added.length === 1 &&
        added[0]!.kind === 'missing' &&
        added[0]!.key === victim &&
        added[0]!.versionId === sourceLatest &&
        vanished.length === 0,
      `after deleting the replica ${replica.versionId} of ${victim} (source version ${sourceLatest}) on the target, diffBucket should report exactly that version as missing in addition to what it reported before; new:\n${describeDiff(added)}${vanished.length ? `\nno longer reported:\n${describeDiff(vanished)}` : ''}`,
    );
    const diffStarted = Date.now();
    const diffCli = await runReplicationCli(
      engine.configPath,
      ['diff', '--bucket', engine.sourceBucket],
      600_000,
    );
    const diffLines = diffCli.stdout.trim().split('\n');
    run.facts.diffCli = {
      code: diffCli.code,
      seconds: round((Date.now() - diffStarted) / 1000),
      stdout: diffLines.slice(-3),
    };
    run.expect(
      diffCli.code === 1 &&
        diffLines.some((l) =>
          l.includes(`/${victim} version ${sourceLatest}: missing: no replica of version`),
        ) &&
        diffLines.at(-1) === `${clean.findings.length + 1} difference(s)`,
      `replication diff should exit 1 naming ${victim} version ${sourceLatest} as missing (${clean.findings.length + 1} difference(s) in all); it exited ${diffCli.code}:\n${diffCli.stdout}\n${diffCli.stderr}`,
    );
  },
);

/**
 * Records the workflow histories that test/unit/workflow-replay.test.ts replays: starts the
 * project's own local stack on free ports, runs each scenario through the real engine
 * (journal → populator → workflow → activities on MinIO) and writes the run's history to
 * test/replay/histories/<name>.json. See test/replay/README.md for when to run it:
 *
 *   npx tsx test/replay/record-histories.ts [scenario ...]
 *
 * With scenario names, only those fixtures are written again.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import * as prettier from 'prettier';
import { startBackfills } from '../../operations/backfill';
import { retryFailed } from '../../operations/failures';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { startStack } from '../../stack/stack';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, uniqueBucket } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';
import { BACKFILL_PAGES } from './recorded-history';

const EventType = proto.temporal.api.enums.v1.EventType;
type History = proto.temporal.api.history.v1.IHistory;
type Events = proto.temporal.api.history.v1.IHistoryEvent[];

const MiB = 1024 * 1024;
const HISTORIES_DIR = path.join(__dirname, 'histories');
const SITE = 'target';
/** Versions written in the overwrite storm, and the run size that makes the first run continue-as-new. */
const STORM_VERSIONS = 60;
const CONTINUE_AS_NEW_AFTER = 20;

const log = (line: string) => process.stdout.write(`[record] ${line}\n`);

interface Context {
  harness: ReplicationHarness;
  source: ReturnType<typeof s3ClientFor>;
  /** The worker reaches the target site through this proxy, which a scenario can cut. */
  proxy: TcpProxy;
}

/** A recorded run: which execution's history to write, and what it must contain. */
interface Recorded {
  workflowId: string;
  runId: string;
}

async function put(ctx: Context, key: string, body: string | Uint8Array): Promise<string> {
  const out = await ctx.source.send(
    new PutObjectCommand({ Bucket: ctx.harness.sourceBucket, Key: key, Body: body }),
  );
  return out.VersionId!;
}

const workflowIdOf = (ctx: Context, key: string) =>
  replicationWorkflowId(SITE, ctx.harness.sourceBucket, key);

/** Every run of a workflow id, oldest first (from the visibility store). */
async function runsOf(ctx: Context, workflowId: string): Promise<WorkflowExecutionInfo[]> {
  const runs: WorkflowExecutionInfo[] = [];
  const query = `WorkflowId = '${workflowId.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  for await (const run of ctx.harness.temporal.workflow.list({ query })) runs.push(run);
  return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
}

/** Waits until every run of the workflow id is closed, and returns them oldest first. */
async function closedRuns(ctx: Context, workflowId: string, timeoutMs = 120_000) {
  return waitFor(
    `every run of ${workflowId} to close`,
    async () => {
      const latest = await ctx.harness.temporal.workflow.getHandle(workflowId).describe();
      if (latest.status.name === 'RUNNING') return undefined;
      const runs = await runsOf(ctx, workflowId);
      return runs.some((r) => r.runId === latest.runId) && runs.every((r) => r.status.name !== 'RUNNING')
        ? runs
        : undefined;
    },
    timeoutMs,
  );
}

const typesOf = (events: Events) => events.map((e) => e.eventType);
const lastType = (events: Events) => events.at(-1)?.eventType;

function expectThat(condition: boolean, what: string): void {
  if (!condition) throw new Error(`recorded history does not show what the scenario is for: ${what}`);
}

/** (a) A single small PUT: one local activity, the run completes. */
async function oneVersion(ctx: Context): Promise<Recorded> {
  const key = 'one-version/object';
  const versionId = await put(ctx, key, 'one small version');
  await ctx.harness.waitForVersion(SITE, key, versionId);
  const runs = await closedRuns(ctx, workflowIdOf(ctx, key));
  expectThat(runs.length === 1 && runs[0]!.status.name === 'COMPLETED', 'one run, COMPLETED');
  return { workflowId: runs[0]!.workflowId, runId: runs[0]!.runId };
}

/** (b) One key overwritten STORM_VERSIONS times: the first run ends with continue-as-new. */
async function overwriteStorm(ctx: Context): Promise<Recorded> {
  const key = 'overwrite-storm/object';
  let last = '';
  for (let i = 0; i < STORM_VERSIONS; i++) last = await put(ctx, key, `version ${i}`);
  await ctx.harness.waitForVersion(SITE, key, last, { timeoutMs: 180_000 });
  const runs = await closedRuns(ctx, workflowIdOf(ctx, key), 180_000);
  const first = runs.find((r) => r.status.name === 'CONTINUED_AS_NEW');
  expectThat(first !== undefined, `a run that continued as new (runs: ${runs.map((r) => r.status.name)})`);
  log(`overwrite-storm: ${runs.length} runs (${runs.map((r) => r.status.name).join(', ')})`);
  return { workflowId: first!.workflowId, runId: first!.runId };
}

/**
 * (c) The target site unreachable: two quick local attempts, then a regular activity with
 * the rest of `maxAttempts`, FAILED (memo, CrrStatus); once the site is back,
 * `replication retry` (signal retryFailed) and the run completes.
 */
async function failedThenRetried(ctx: Context): Promise<Recorded> {
  const key = 'failed-then-retried/object';
  const workflowId = workflowIdOf(ctx, key);
  await ctx.proxy.cut();
  let versionId: string;
  try {
    versionId = await put(ctx, key, 'fails first');
    const failed = await ctx.harness.waitForVersion(SITE, key, versionId, { timeoutMs: 120_000 });
    expectThat(failed.status === 'FAILED', `the version FAILED while the target was unreachable`);
    log(`failed-then-retried: FAILED after ${failed.attempts} attempts: ${failed.reason}`);
  } finally {
    await ctx.proxy.open();
  }
  // `replication retry`, as the CLI does it: from the visibility store (CrrStatus = FAILED).
  await waitFor('replication retry to find the FAILED key', async () => {
    const count = await retryFailed(ctx.harness.temporal, {
      site: SITE,
      bucket: ctx.harness.sourceBucket,
      key,
    });
    return count > 0 ? count : undefined;
  });
  const done = await ctx.harness.waitForVersion(SITE, key, versionId, {
    timeoutMs: 120_000,
    until: (v) => v.status === 'COMPLETED',
  });
  log(`failed-then-retried: ${done.status} after retry`);
  const runs = await closedRuns(ctx, workflowId);
  expectThat(runs.length === 1 && runs[0]!.status.name === 'COMPLETED', 'one run, COMPLETED');
  return { workflowId, runId: runs[0]!.runId };
}

/** (d) A copy above policy.multipartThresholdBytes: a regular, heartbeating activity. */
async function multipartHeartbeats(ctx: Context): Promise<Recorded> {
  const key = 'multipart-heartbeats/object';
  const versionId = await put(ctx, key, randomBytes(16 * MiB)); // 4 parts of 5 MiB
  const status = await ctx.harness.waitForVersion(SITE, key, versionId, { timeoutMs: 120_000 });
  expectThat(status.status === 'COMPLETED', `the multipart copy COMPLETED (${status.reason ?? ''})`);
  const runs = await closedRuns(ctx, workflowIdOf(ctx, key));
  expectThat(runs.length === 1 && runs[0]!.status.name === 'COMPLETED', 'one run, COMPLETED');
  return { workflowId: runs[0]!.workflowId, runId: runs[0]!.runId };
}

/** (e) PUT then DELETE: the put and the delete marker replicated, in one run. */
async function deleteMarker(ctx: Context): Promise<Recorded> {
  // Both changes usually reach the workflow together (one journal chunk); when the put's run
  // completed before the delete arrived they are in two runs, and the scenario runs again.
  for (let attempt = 1; ; attempt++) {
    const key = `delete-marker/object-${attempt}`;
    const versionId = await put(ctx, key, 'deleted next');
    const dm = await ctx.source.send(new DeleteObjectCommand({ Bucket: ctx.harness.sourceBucket, Key: key }));
    await ctx.harness.waitForVersion(SITE, key, versionId);
    const marker = await ctx.harness.waitForVersion(SITE, key, dm.VersionId!);
    expectThat(marker.status === 'COMPLETED', 'the delete marker COMPLETED');
    const runs = await closedRuns(ctx, workflowIdOf(ctx, key));
    if (runs.length === 1 && runs[0]!.status.name === 'COMPLETED') {
      return { workflowId: runs[0]!.workflowId, runId: runs[0]!.runId };
    }
    if (attempt >= 3) throw new Error(`delete-marker: the put and the delete marker never ran in one run`);
    log(`delete-marker: ${runs.length} runs, trying again with another key`);
  }
}

/**
 * (f) A backfill of keys already replicated: pages listed while reports come back (its window
 * is smaller than the keys), the reports' signals, one run. The fixture in the tree was recorded
 * before the page refill threshold (workflows/backfill.ts, patch `backfill-page-refill`): it is
 * the proof that runs started before it still replay, so keep it (test/replay/README.md).
 */
async function backfillPages(ctx: Context): Promise<Recorded> {
  let last = '';
  for (let i = 0; i < BACKFILL_PAGES.keys; i++) last = await put(ctx, `backfill/${i}`, `backfilled ${i}`);
  await ctx.harness.waitForVersion(SITE, `backfill/${BACKFILL_PAGES.keys - 1}`, last);
  const [started] = await startBackfills(ctx.harness.temporal, ctx.harness.config, {
    bucket: ctx.harness.sourceBucket,
    prefix: 'backfill/',
  });
  const runs = await closedRuns(ctx, started!.workflowId);
  expectThat(runs.length === 1 && runs[0]!.status.name === 'COMPLETED', 'one run, COMPLETED');
  return { workflowId: runs[0]!.workflowId, runId: runs[0]!.runId };
}

/** Scenario name (the fixture's file name) → how to produce it and what its history must show. */
const SCENARIOS: Record<string, { run: (ctx: Context) => Promise<Recorded>; check: (e: Events) => void }> = {
  'one-version': {
    run: oneVersion,
    check: (e) => {
      expectThat(lastType(e) === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, 'completed');
      expectThat(typesOf(e).includes(EventType.EVENT_TYPE_MARKER_RECORDED), 'a local activity');
    },
  },
  'overwrite-storm': {
    run: overwriteStorm,
    check: (e) =>
      expectThat(
        lastType(e) === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        'ended with continue-as-new',
      ),
  },
  'failed-then-retried': {
    run: failedThenRetried,
    check: (e) => {
      const types = typesOf(e);
      expectThat(types.includes(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED), 'a failed regular activity');
      expectThat(types.includes(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), 'CrrStatus upserts');
      expectThat(
        e.some((x) => x.workflowExecutionSignaledEventAttributes?.signalName === 'retryFailed'),
        'the retryFailed signal',
      );
      expectThat(lastType(e) === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, 'completed');
    },
  },
  'multipart-heartbeats': {
    run: multipartHeartbeats,
    check: (e) => {
      const scheduled = e.find(
        (x) => x.activityTaskScheduledEventAttributes,
      )?.activityTaskScheduledEventAttributes;
      expectThat(
        scheduled?.activityType?.name === 'copyObjectVersion',
        'a regular copyObjectVersion activity',
      );
      expectThat(Number(scheduled?.heartbeatTimeout?.seconds ?? 0) > 0, 'a heartbeat timeout');
      expectThat(lastType(e) === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, 'completed');
    },
  },
  'backfill-pages': {
    run: backfillPages,
    check: (e) => {
      const pages = e.filter(
        (x) => x.activityTaskScheduledEventAttributes?.activityType?.name === 'submitBackfillPage',
      );
      expectThat(
        pages.length >= BACKFILL_PAGES.keys / BACKFILL_PAGES.concurrency,
        'several pages (a window at a time)',
      );
      expectThat(
        e.some((x) => x.workflowExecutionSignaledEventAttributes?.signalName === 'backfillReports'),
        "the key workflows' reports",
      );
      expectThat(lastType(e) === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, 'completed');
    },
  },
  'delete-marker': {
    run: deleteMarker,
    check: (e) => {
      const markers = typesOf(e).filter((t) => t === EventType.EVENT_TYPE_MARKER_RECORDED);
      expectThat(markers.length >= 2, 'two local activities (the put and the delete marker)');
      expectThat(lastType(e) === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, 'completed');
    },
  },
};

const SCENARIO_NAMES = Object.keys(SCENARIOS);

/**
 * The SDK's historyToJSON. Where npm installed @temporalio/common and @temporalio/proto with
 * two copies of protobufjs, it throws "type must be a Type" (its ProtoJSON module checks the
 * type against its own copy); the same conversion is then done with the ProtoJSON module of
 * the copy @temporalio/proto was generated with. The output is the same either way.
 */
function historyJson(history: History): string {
  try {
    return historyToJSON(history);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
  const fromProto = createRequire(require.resolve('@temporalio/proto'));
  const protojson = fromProto('protobufjs/ext/protojson') as {
    toJson(type: unknown, message: unknown): unknown;
  };
  const root = patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown };
  const type = root.lookupType('temporal.api.history.v1.History');
  const message = proto.temporal.api.history.v1.History.fromObject(history);
  return JSON.stringify(protojson.toJson(type, message), null, 2);
}

async function writeHistory(ctx: Context, name: string, run: Recorded): Promise<void> {
  const history = await ctx.harness.temporal.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
  SCENARIOS[name]!.check(history.events ?? []);
  const file = path.join(HISTORIES_DIR, `${name}.json`);
  // Formatted as `prettier --check .` expects, so `npm run lint` stays clean.
  const text = await prettier.format(historyJson(history), {
    ...(await prettier.resolveConfig(file)),
    filepath: file,
  });
  fs.writeFileSync(file, text);
  log(`${name}: ${history.events?.length ?? 0} events → ${path.relative(process.cwd(), file)}`);
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const name of wanted) {
    if (!(name in SCENARIOS))
      throw new Error(`unknown scenario "${name}" (known: ${SCENARIO_NAMES.join(', ')})`);
  }
  const names = wanted.length > 0 ? wanted : SCENARIO_NAMES;
  const started = Date.now();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-replay-record-'));
  // The histories must come from the workflow code in the tree (what the replay test loads),
  // never from a bundle `npm run build` left behind.
  process.env.CRR_WORKFLOW_BUNDLE = path.join(stateDir, 'no-prebuilt-bundle.js');
  const stack = await startStack({ stateDir, ports: 'free', log: (line) => log(`stack: ${line}`) });
  log(`stack ready in ${Date.now() - started} ms; state and logs in ${stateDir}`);
  const targetUrl = new URL(stack.info.sites.target.endpoint);
  const proxy = new TcpProxy(targetUrl.hostname, Number(targetUrl.port));
  let harness: ReplicationHarness | undefined;
  try {
    await proxy.open();
    harness = new ReplicationHarness(
      stack.info,
      'replay',
      [{ site: SITE, bucket: uniqueBucket('replay-dst'), deleteMarkers: true }],
      {
        maxAttempts: 3,
        initialRetryIntervalMs: 200,
        maxRetryIntervalMs: 1000,
        continueAsNewAfterVersions: CONTINUE_AS_NEW_AFTER,
        multipartThresholdBytes: 6 * MiB,
        partSizeBytes: 5 * MiB,
      },
      (raw) => {
        raw.sites[SITE]!.endpoint = proxy.endpoint;
        (raw as Record<string, unknown>).backfill = {
          startDelaySeconds: 1,
          concurrency: BACKFILL_PAGES.concurrency,
          pageSize: 40,
        };
      },
    );
    await harness.start();
    const ctx: Context = { harness, source: s3ClientFor(stack.info.sites.source), proxy };
    fs.mkdirSync(HISTORIES_DIR, { recursive: true });
    for (const name of names) {
      const t = Date.now();
      const run = await SCENARIOS[name]!.run(ctx);
      await writeHistory(ctx, name, run);
      log(`${name}: recorded in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    await harness?.stop().catch((err) => log(`stopping the engine: ${String(err)}`));
    await proxy.close();
    await stack.stop();
    if (process.env.CRR_KEEP_TEST_STACK !== '1') fs.rmSync(stateDir, { recursive: true, force: true });
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (require.main === module) {
  main().then(
    // Temporal's native runtime keeps handles open after the last worker stopped.
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/**
 * Backfill on the real stack: versions (and delete markers) written before the rule are
 * replicated in order by `replication backfill`, while live traffic writes new versions of the
 * same keys; `replication diff` then reports nothing, and a replica deleted on purpose.
 * FAILED versions are left alone unless asked; `--older-than`, the prefix and cancel.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { defaultPayloadConverter } from '@temporalio/common';
import { startApi } from '../../api/start';
import { upsertProfile } from '../../config/credentials-file';
import {
  backfillStatus,
  cancelBackfills,
  listBackfills,
  startBackfills,
  watchBackfillScopes,
  type BackfillStatus,
} from '../../operations/backfill';
import { diffBucket, type DiffFinding } from '../../operations/diff';
import { pageRefill } from '../../shared/backfill';
import { runReplicationCli } from '../support/cli-process';
import { checkBucket, describeFindings } from '../support/replica-check';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
/** The config's `backfill` section. Few events per run: every backfill here continues as new several times. */
const BACKFILL = { startDelaySeconds: 1, concurrency: 50, pageSize: 40, eventsPerRun: 150 };
const harness = new ReplicationHarness(
  stack,
  'backfill',
  [{ site: 'target', bucket: uniqueBucket('backfill-dst') }],
  { backfillScopePollMs: 300 },
  (raw) => {
    (raw as Record<string, unknown>).backfill = BACKFILL;
  },
);
const destination = harness.destinations[0]!;

/** Keys written before the rule: some with several versions, some deleted. */
const KEYS = 60;
const keyOf = (i: number) => `old/${String(i).padStart(3, '0')} é+%`;
/** Keys of a backfill long enough to continue as new several times. */
const CHAIN_KEYS = 240;

beforeAll(async () => {
  await source.send(new CreateBucketCommand({ Bucket: harness.sourceBucket }));
  await source.send(
    new PutBucketVersioningCommand({
      Bucket: harness.sourceBucket,
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  );
  for (let i = 0; i < KEYS; i++) {
    const key = keyOf(i);
    for (let v = 0; v <= i % 3; v++)
      await source.send(
        new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: `${key} v${v}` }),
      );
    if (i % 7 === 0) await source.send(new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: key }));
  }
  for (let i = 0; i < CHAIN_KEYS; i++)
    await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: `chain/${i}`, Body: `chain ${i}` }),
    );
  for (let i = 0; i < 5; i++)
    for (let v = 0; v < 3; v++)
      await source.send(
        new PutObjectCommand({ Bucket: harness.sourceBucket, Key: `slow/${i}`, Body: `slow ${i} v${v}` }),
      );
  await harness.start();
}, 180_000);
afterAll(() => harness.stop(), 60_000);

async function waitForBackfill(workflowId: string, timeoutMs = 120_000): Promise<BackfillStatus> {
  return waitFor(
    `backfill ${workflowId} to end`,
    async () => {
      const status = await backfillStatus(harness.temporal, workflowId);
      return status.runStatus === 'RUNNING' ? undefined : status;
    },
    timeoutMs,
  );
}

/** The size asked of each page the backfill listed (`maxVersions`), from every run's history. */
async function submittedPageSizes(workflowId: string, runIds: string[]): Promise<number[]> {
  const sizes: number[] = [];
  for (const runId of runIds) {
    const history = await harness.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
    for (const event of history.events ?? []) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType?.name !== 'submitBackfillPage') continue;
      const input = defaultPayloadConverter.fromPayload<{ maxVersions: number }>(
        scheduled.input!.payloads![0]! as never,
      );
      sizes.push(input.maxVersions);
    }
  }
  return sizes;
}

async function diff(prefix: string): Promise<DiffFinding[]> {
  const found: DiffFinding[] = [];
  for await (const f of diffBucket(harness.config, {
    bucket: harness.sourceBucket,
    site: 'target',
    prefix,
    source,
    target,
  }))
    found.push(f);
  return found;
}

test('nothing from before the rule is on the target until a backfill runs', async () => {
  const findings = await diff('old/');
  expect(findings.filter((f) => f.kind === 'missing').length).toBeGreaterThanOrEqual(KEYS);
});

test('a backfill replicates every version in order while live traffic writes the same keys', async () => {
  const [started] = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'old/',
  });
  expect(started).toMatchObject({ site: 'target', started: true });
  // A second start of the same scope joins the running one.
  const again = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'old/',
  });
  expect(again).toEqual([{ ...started, started: false }]);
  // Live traffic on the same keys while the backfill runs (and, usually, before its first page).
  let liveWrites = 0;
  for (let i = 0; i < KEYS; i += 5) {
    await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: keyOf(i), Body: `${keyOf(i)} live` }),
    );
    liveWrites++;
  }
  const done = await waitForBackfill(started!.workflowId);
  expect(done.runStatus).toBe('COMPLETED');
  const p = done.progress!;
  expect(p.phase).toBe('completed');
  expect(p.submitted).toBeGreaterThan(KEYS);
  expect(p.replicated + p.alreadyReplicated + p.notReplicated).toBe(p.submitted);
  expect(p.failed).toBe(0);
  // The count (for the time left) lists the prefix once, beside the scan's pages: a live write
  // that lands between the two listings of its key is in one and not the other.
  expect(p.totalVersions).toBeDefined();
  expect(Math.abs(p.totalVersions! - p.submitted)).toBeLessThanOrEqual(liveWrites);
  expect(p.replicatedBytes).toBeGreaterThan(0);
  // Live versions are journaled too: wait until the target holds everything, then compare.
  await waitFor(
    'the target to hold every version',
    async () => ((await diff('old/')).length === 0 ? true : undefined),
    60_000,
  );
  const check = await checkBucket(
    { source, target, sourceBucket: harness.sourceBucket, targetBucket: destination.bucket },
    { deleteMarkers: true },
    'old/',
  );
  expect(describeFindings(check.findings)).toBe('');
  expect(check).toMatchObject({ lost: 0, duplicated: 0, reordered: 0, latestMismatch: 0, unexpected: 0 });
  expect(check.targetVersions).toBe(check.sourceVersions);
  expect(check.targetDeleteMarkers).toBe(check.sourceDeleteMarkers);

  // Listed with its numbers, also once finished.
  const listed = await listBackfills(harness.temporal, { bucket: harness.sourceBucket });
  expect(listed[0]).toMatchObject({ workflowId: started!.workflowId, runStatus: 'COMPLETED' });

  // Run again: everything is found on the target, nothing is copied.
  const [second] = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'old/',
  });
  expect(second!.started).toBe(true);
  const redone = (await waitForBackfill(second!.workflowId)).progress!;
  expect(redone.replicated).toBe(0);
  expect(redone.replicatedBytes).toBe(0);
  expect(redone.alreadyReplicated + redone.notReplicated).toBe(redone.submitted);
  // Nothing writes to the prefix now: the count is exact.
  expect(redone.totalVersions).toBe(redone.submitted);
}, 240_000);

test('diff reports a replica deleted on purpose', async () => {
  const key = keyOf(1);
  const page = await target.send(new ListObjectVersionsCommand({ Bucket: destination.bucket, Prefix: key }));
  const victim = page.Versions!.find((v) => v.Key === key)!;
  await target.send(
    new DeleteObjectCommand({ Bucket: destination.bucket, Key: key, VersionId: victim.VersionId! }),
  );
  const findings = await diff('old/');
  expect(findings.map((f) => [f.kind, f.key])).toEqual([['missing', key]]);
  expect(findings[0]!.detail).toMatch(/no replica of version/);
});

test('the CLI: diff exits 1 naming the difference, backfill follows to the end, status lists it', async () => {
  const cli = (...args: string[]) => runReplicationCli(harness.configPath, args, 120_000);
  const before = await cli('diff', '--bucket', harness.sourceBucket, '--prefix', 'old/');
  expect(before.code).toBe(1);
  expect(before.stdout).toMatch(
    /^target: s3:\/\/\S+\/old\/001 é\+% version \S+: missing: no replica of version/m,
  );
  expect(before.stdout).toMatch(/^1 difference\(s\)$/m);
  const run = await cli('backfill', '--bucket', harness.sourceBucket, '--prefix', 'old/', '--json');
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = run.stdout.split('\n');
  expect(lines[0]).toMatch(/^started: backfill of s3:\/\/\S+\/old\/ → target \(workflow crr-backfill\//);
  const progress = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { phase: string });
  expect(progress.at(-1)).toMatchObject({ phase: 'completed', runStatus: 'COMPLETED' });
  expect(lines.join('\n')).toMatch(
    /→ target: completed \(completed\); listed \d+, submitted \d+ of \d+, replicated 1 /,
  );
  const after = await cli('diff', '--bucket', harness.sourceBucket, '--prefix', 'old/');
  expect(after).toMatchObject({ code: 0 });
  expect(after.stdout).toMatch(/^no differences$/m);
  const status = await cli('backfill', 'status', '--bucket', harness.sourceBucket);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/→ target: completed \(completed\)/);
  const missing = await cli('backfill', '--site', 'target');
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toMatch(/required option '--bucket <bucket>' not specified/);
}, 180_000);

test('--older-than leaves newer versions out; cancel stops a backfill', async () => {
  const [b] = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'old/0',
    olderThan: '2000-01-01T00:00:00Z',
  });
  const ended = (await waitForBackfill(b!.workflowId)).progress!;
  expect(ended.submitted).toBe(0);
  expect(ended.skipped).toBe(ended.listed);
  expect(ended.listed).toBeGreaterThan(0);

  const [c] = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'old/',
    objectsPerSecond: 1,
  });
  expect(await cancelBackfills(harness.temporal, { bucket: harness.sourceBucket, prefix: 'old/' })).toEqual([
    c!.workflowId,
  ]);
  const cancelled = await waitForBackfill(c!.workflowId);
  expect(cancelled.runStatus).toBe('CANCELLED');
  expect(cancelled.progress?.phase).toBe('cancelled');
}, 120_000);

test('a backfill of a bucket or site without a rule is refused by name', async () => {
  await expect(
    startBackfills(harness.temporal, harness.config, { bucket: 'no-such-bucket' }),
  ).rejects.toThrow(/bucket no-such-bucket has no enabled replication rule/);
  await expect(
    startBackfills(harness.temporal, harness.config, { bucket: harness.sourceBucket, site: 'nowhere' }),
  ).rejects.toThrow(/is not replicated to site "nowhere"/);
});

test('a live change to a key a running backfill has not reached yet brings its older versions first', async () => {
  const [slow] = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'slow/',
    objectsPerSecond: 0.2,
  });
  await waitFor(
    'the backfill to start scanning',
    async () =>
      (await backfillStatus(harness.temporal, slow!.workflowId)).progress?.phase === 'scanning'
        ? true
        : undefined,
    20_000,
  );
  const live = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'slow/4', Body: 'slow 4 live' }),
  );
  await harness.waitForVersion('target', 'slow/4', live.VersionId!);
  const status = await backfillStatus(harness.temporal, slow!.workflowId);
  // The backfill is still far from slow/4 (one version every 5 s)…
  expect(status.progress!.submitted).toBeLessThan(12);
  // …yet the target holds its whole history, in order, with the live version latest.
  const check = await checkBucket(
    { source, target, sourceBucket: harness.sourceBucket, targetBucket: destination.bucket },
    { deleteMarkers: true },
    'slow/4',
  );
  expect(describeFindings(check.findings)).toBe('');
  expect(check).toMatchObject({
    sourceVersions: 4,
    targetVersions: 4,
    lost: 0,
    reordered: 0,
    latestMismatch: 0,
  });
  await cancelBackfills(harness.temporal, { bucket: harness.sourceBucket, prefix: 'slow/' });
}, 120_000);

test('a backfill that continues as new stays known to the workers, is listed once and counts each version once', async () => {
  const scopes = watchBackfillScopes(harness.temporal, 50);
  let covered = false;
  /** When a poll found the keys no longer covered after they had been. */
  const gaps: number[] = [];
  let polls = 0;
  const poll = setInterval(() => {
    const now = scopes.covers('target', harness.sourceBucket, 'chain/0');
    polls++;
    if (covered && !now) gaps.push(Date.now());
    covered ||= now;
  }, 50);
  try {
    const [started] = await startBackfills(harness.temporal, harness.config, {
      bucket: harness.sourceBucket,
      prefix: 'chain/',
    });
    const status = await waitForBackfill(started!.workflowId);
    clearInterval(poll);
    const p = status.progress!;
    expect(p).toMatchObject({ phase: 'completed', submitted: CHAIN_KEYS, replicated: CHAIN_KEYS });
    expect(p.duplicateReports ?? 0).toBe(0);
    // It did continue as new, and workers covered its keys all along (from the first poll that saw it).
    const runs: Array<{ status: string; runId: string }> = [];
    for await (const run of harness.temporal.workflow.list({
      query: `WorkflowId = '${started!.workflowId}'`,
    }))
      runs.push({ status: run.status.name, runId: run.runId });
    expect(runs.filter((r) => r.status === 'CONTINUED_AS_NEW').length).toBeGreaterThanOrEqual(2);
    // With the window full, a page waits until a quarter of the window has been reported: no
    // page of a few versions per report (each one an activity, a source listing, a workflow task).
    const pages = await submittedPageSizes(
      started!.workflowId,
      runs.map((r) => r.runId),
    );
    const refill = pageRefill(BACKFILL);
    expect(pages.filter((maxVersions) => maxVersions < refill)).toEqual([]);
    expect(pages.length).toBeGreaterThanOrEqual(CHAIN_KEYS / BACKFILL.pageSize);
    expect(pages.length).toBeLessThanOrEqual(Math.ceil(CHAIN_KEYS / refill) + runs.length);
    // Until the backfill closed (the watcher may drop it between its close and our noticing).
    const closed = Date.parse(status.closeTime!);
    const whileRunning = gaps.filter((at) => at < closed).length;
    expect({ covered, whileRunning, polls: polls > 20 }).toEqual({
      covered: true,
      whileRunning: 0,
      polls: true,
    });
    // `backfill status` lists it once, by its latest run, as it is now: visibility indexes the
    // close a moment after it, and the listing must not show an ended backfill as running.
    const listed = await listBackfills(harness.temporal, { bucket: harness.sourceBucket, prefix: 'chain/' });
    expect(listed.map((b) => [b.workflowId, b.runStatus])).toEqual([[started!.workflowId, 'COMPLETED']]);
    expect(listed[0]!.progress).toMatchObject({ phase: 'completed', replicated: CHAIN_KEYS });
    const running = await listBackfills(harness.temporal, {
      bucket: harness.sourceBucket,
      prefix: 'chain/',
      runningOnly: true,
    });
    expect(running).toEqual([]);
    // Once it has ended, workers stop covering its keys.
    await waitFor(
      'workers to forget the ended backfill',
      async () => {
        await scopes.refresh();
        return scopes.covers('target', harness.sourceBucket, 'chain/0') ? undefined : true;
      },
      10_000,
    );
  } finally {
    clearInterval(poll);
    scopes.stop();
  }
}, 180_000);

test('the control API starts, lists (with Prometheus gauges) and cancels backfills', async () => {
  const token = 'backfill-api-token-0123456789';
  const api = await startApi(harness.config, { port: 0, env: { CRR_API_TOKEN: token } });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return {
      status: response.status,
      text,
      json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
  try {
    const badDate = await call('POST', '/_/crr/backfill', {
      bucket: harness.sourceBucket,
      olderThan: 'yesterday',
    });
    expect(badDate.status).toBe(400);
    expect(badDate.json.message).toMatch(/body\/olderThan/);
    const noSite = await call('POST', '/_/crr/backfill', { bucket: harness.sourceBucket, site: 'nowhere' });
    expect(noSite.status).toBe(404);
    expect(noSite.json.message).toMatch(/not replicated to site "nowhere"/);
    const noBucket = await call('POST', '/_/crr/backfill', { prefix: 'x' });
    expect(noBucket.status).toBe(400);
    expect(noBucket.json.message).toMatch(/required property 'bucket'/);

    const started = await call('POST', '/_/crr/backfill', {
      bucket: harness.sourceBucket,
      prefix: 'slow/',
      objectsPerSecond: 0.2,
    });
    expect(started.status).toBe(200);
    const [b] = started.json.backfills as Array<{ workflowId: string; site: string; started: boolean }>;
    expect(b).toMatchObject({ site: 'target', started: true });
    const running = await waitFor(
      'the backfill to report progress',
      async () => {
        const list = await call('GET', `/_/crr/backfill?bucket=${harness.sourceBucket}&running=true`);
        const items = list.json.items as Array<{ workflowId: string; progress?: { phase: string } }>;
        const mine = items.find((i) => i.workflowId === b!.workflowId);
        return mine?.progress?.phase === 'scanning' ? mine : undefined;
      },
      20_000,
    );
    expect(running).toMatchObject({ runStatus: 'RUNNING', request: { prefix: 'slow/', site: 'target' } });
    const metrics = await call('GET', '/metrics');
    expect(metrics.text).toMatch(
      new RegExp(
        `crr_backfill_versions\\{site="target",bucket="${harness.sourceBucket}",prefix="slow/",state="listed"\\} \\d+`,
      ),
    );
    const cancelled = await call('POST', '/_/crr/backfill/cancel', {
      bucket: harness.sourceBucket,
      prefix: 'slow/',
    });
    expect(cancelled).toMatchObject({ status: 200, json: { cancelled: [b!.workflowId] } });
    expect((await waitForBackfill(b!.workflowId)).runStatus).toBe('CANCELLED');
  } finally {
    await api.close();
  }
}, 120_000);

test('a version FAILED before the backfill is left FAILED, unless --include-failed retries it', async () => {
  const credentials = process.env.AWS_SHARED_CREDENTIALS_FILE!;
  const good = {
    accessKeyId: stack.sites.target.accessKeyId,
    secretAccessKey: stack.sites.target.secretAccessKey,
  };
  upsertProfile(credentials, 'crr-target', { ...good, secretAccessKey: 'not-the-secret' });
  await new Promise((r) => setTimeout(r, 1_500)); // the worker re-reads the credentials file
  const put = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'failing/k', Body: 'f' }),
  );
  const failed = await harness.waitForVersion('target', 'failing/k', put.VersionId!, {
    until: (v) => v.status === 'FAILED',
  });
  expect(failed.status).toBe('FAILED');
  upsertProfile(credentials, 'crr-target', good);
  await new Promise((r) => setTimeout(r, 1_500));

  const [left] = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'failing/',
  });
  const leftDone = (await waitForBackfill(left!.workflowId)).progress!;
  expect(leftDone).toMatchObject({ submitted: 1, skippedFailed: 1, replicated: 0, failed: 0 });
  expect((await harness.waitForVersion('target', 'failing/k', put.VersionId!)).status).toBe('FAILED');

  const [retried] = await startBackfills(harness.temporal, harness.config, {
    bucket: harness.sourceBucket,
    prefix: 'failing/',
    includeFailed: true,
  });
  const retriedDone = (await waitForBackfill(retried!.workflowId)).progress!;
  expect(retriedDone).toMatchObject({ submitted: 1, replicated: 1, skippedFailed: 0, failed: 0 });
  const completed = await harness.waitForVersion('target', 'failing/k', put.VersionId!, {
    until: (v) => v.status === 'COMPLETED',
  });
  expect(completed.status).toBe('COMPLETED');
  expect(await diff('failing/')).toEqual([]);
}, 120_000);

import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import pLimit from 'p-limit';
import { runStatus } from '../../cli/commands/status';
import { lookupReplication } from '../../operations/replication-lookup';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { listKeyHistory } from '../support/ordered-versions';
import { checkBucket, describeFindings, identifyReplicas } from '../support/replica-check';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

/**
 * A key overwritten more times than `policy.continueAsNewAfterVersions`: its workflow goes on
 * in new runs (continue-as-new, carrying its queue), and nothing is lost, duplicated or
 * reordered across the runs.
 */

const CONTINUE_AS_NEW_AFTER = 50;
const VERSIONS = 120;

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const destination = { site: 'target', bucket: uniqueBucket('can-dst'), deleteMarkers: true };
const harness = new ReplicationHarness(stack, 'continue-as-new', [destination], {
  continueAsNewAfterVersions: CONTINUE_AS_NEW_AFTER,
});

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

/** Every run of a workflow id, oldest first (from the visibility store). */
async function runsOf(workflowId: string): Promise<WorkflowExecutionInfo[]> {
  const runs: WorkflowExecutionInfo[] = [];
  const query = `WorkflowId = '${workflowId.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  for await (const run of harness.temporal.workflow.list({ query })) runs.push(run);
  return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
}

test(`${VERSIONS} versions of one key, continue-as-new after ${CONTINUE_AS_NEW_AFTER}: each replicated once, in source order, all COMPLETED`, async () => {
  const key = 'continue-as-new/overwritten object';
  // The worker is stopped while the versions are written, so that the journal's deliveries
  // (several signals, as MinIO's queue and the populator's chunks cut them) all wait in the
  // first run: with the worker running, a run could complete between two small deliveries and
  // the next one start afresh, never reaching the threshold.
  await harness.stopWorker();
  const written: string[] = [];
  try {
    for (let i = 0; i < VERSIONS; i++) {
      const put = await source.send(
        new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: `version ${i}` }),
      );
      written.push(put.VersionId!);
    }
    // `status` reads the accepted versions from the run's history: no worker needed.
    await waitFor(
      `the ${VERSIONS} versions to reach the workflow`,
      async () => {
        const r = await lookupReplication(harness.temporal, destination.site, harness.sourceBucket, key);
        return r.versions.length >= VERSIONS ? r : undefined;
      },
      90_000,
    );
  } finally {
    await harness.startWorker();
  }
  await harness.waitForVersion(destination.site, key, written.at(-1)!, { timeoutMs: 150_000 });

  // The workflow id went through several runs, at least one of which continued as new.
  const workflowId = replicationWorkflowId(destination.site, harness.sourceBucket, key);
  const runs = await waitFor('every run of the key to close', async () => {
    const latest = await harness.temporal.workflow.getHandle(workflowId).describe();
    if (latest.status.name !== 'COMPLETED') return undefined;
    const all = await runsOf(workflowId);
    return all.some((r) => r.runId === latest.runId) && all.every((r) => r.status.name !== 'RUNNING')
      ? { all, latest }
      : undefined;
  });
  expect(runs.all.length).toBeGreaterThan(1);
  // 120 queued versions, 50 per run: two runs continue as new, the third completes.
  expect(runs.all.filter((r) => r.status.name === 'CONTINUED_AS_NEW').length).toBeGreaterThanOrEqual(2);
  expect(runs.all.at(-1)!.status.name).toBe('COMPLETED');
  // Some run is a continuation: the first run of its chain is another run of the key.
  const chains = await Promise.all(
    runs.all.map(async (r) => {
      const d = await harness.temporal.workflow.getHandle(workflowId, r.runId).describe();
      return { runId: r.runId, firstRunId: d.raw.workflowExecutionInfo?.firstRunId };
    }),
  );
  const continued = chains.filter((c) => c.firstRunId && c.firstRunId !== c.runId);
  expect(continued.length).toBeGreaterThan(0);
  for (const c of continued) expect(runs.all.map((r) => r.runId)).toContain(c.firstRunId);
  process.stderr.write(
    `[continue-as-new] ${runs.all.length} runs: ${runs.all.map((r) => r.status.name).join(', ')}\n`,
  );

  // Every source version has exactly one replica on the target, in the source's order.
  const sourceHistory = await listKeyHistory(source, harness.sourceBucket, key);
  expect(sourceHistory.map((v) => v.versionId)).toEqual(written);
  const targetHistories = new Map([[key, await listKeyHistory(target, destination.bucket, key)]]);
  const identities = await identifyReplicas(target, destination.bucket, targetHistories);
  const replicated = targetHistories
    .get(key)!
    .map((v) =>
      v.kind === 'version' ? identities.get(`${key}\u0000${v.versionId}`)?.sourceVersionId : 'DM',
    );
  expect(replicated).toEqual(written);
  const check = await checkBucket(
    { source, target, sourceBucket: harness.sourceBucket, targetBucket: destination.bucket },
    { deleteMarkers: true },
    key,
  );
  expect(describeFindings(check.findings)).toBe('');
  expect(check).toMatchObject({
    sourceVersions: VERSIONS,
    targetVersions: VERSIONS,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    unexpected: 0,
    latestMismatch: 0,
  });

  // `replication status s3://bucket/key --version-id V` finds every version COMPLETED,
  // whichever run handled it.
  const url = `s3://${harness.sourceBucket}/${key}`;
  const limit = pLimit(8);
  const statuses = await Promise.all(
    written.map((versionId) =>
      limit(async () => {
        const lines: string[] = [];
        const [site] = await runStatus(harness.temporal, harness.config, url, versionId, (l) =>
          lines.push(l),
        );
        return { versionId, statuses: site?.versions.map((v) => v.status) ?? [], lines };
      }),
    ),
  );
  const notCompleted = statuses.filter(
    (s) => s.statuses.length === 0 || s.statuses.some((x) => x !== 'COMPLETED'),
  );
  expect(notCompleted).toEqual([]);
  for (const s of statuses) expect(s.lines.join('\n')).toContain(`COMPLETED put version ${s.versionId}`);
}, 300_000);

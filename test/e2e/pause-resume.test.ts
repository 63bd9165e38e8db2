/**
 * Pause and resume of a destination site on the real stack: nothing is copied while the
 * site is paused (even across a worker restart), versions wait PENDING in order, `resume`
 * drains them in order, and a pause with `hours` resumes on its own.
 */
import { DeleteObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { runStatus } from '../../cli/commands/status';
import { lookupReplication } from '../../operations/replication-lookup';
import { replicationWorkflowId } from '../../shared/workflow-id';
import {
  pauseSites,
  resumeSites,
  siteState,
  targetSites,
  UnknownSiteError,
} from '../../operations/site-control';
import { checkBucket, describeFindings } from '../support/replica-check';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { listEnded } from '../../operations/failures';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const harness = new ReplicationHarness(
  stack,
  'pause',
  [{ site: 'target', bucket: uniqueBucket('pause-dst') }],
  {
    pausePollMs: 500,
  },
);
const destination = harness.destinations[0]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => harness.start(), 120_000);
afterAll(async () => {
  await resumeSites(harness.temporal, harness.config, ['target']).catch(() => undefined);
  await harness.stop();
}, 60_000);

async function targetVersionCount(prefix: string): Promise<number> {
  const page = await target.send(
    new ListObjectVersionsCommand({ Bucket: destination.bucket, Prefix: prefix }),
  );
  return (page.Versions?.length ?? 0) + (page.DeleteMarkers?.length ?? 0);
}

async function writeChanges(prefix: string): Promise<string[]> {
  const versions: string[] = [];
  for (const body of ['one', 'two', 'three']) {
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: `${prefix}key`, Body: body }),
    );
    versions.push(put.VersionId!);
  }
  await source.send(new DeleteObjectCommand({ Bucket: harness.sourceBucket, Key: `${prefix}key` }));
  const other = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: `${prefix}other`, Body: 'x' }),
  );
  versions.push(other.VersionId!);
  return versions;
}

async function expectIdentical(prefix: string): Promise<void> {
  const check = await checkBucket(
    { source, target, sourceBucket: harness.sourceBucket, targetBucket: destination.bucket },
    { deleteMarkers: true },
    prefix,
  );
  expect(describeFindings(check.findings)).toBe('');
  expect(check).toMatchObject({ sourceVersions: 4, targetVersions: 4, lost: 0, duplicated: 0, reordered: 0 });
}

test('an unknown site is refused by name', () => {
  expect(() => targetSites(harness.config, 'nowhere')).toThrow(UnknownSiteError);
  expect(() => targetSites(harness.config, 'nowhere')).toThrow(/unknown destination site "nowhere"/);
});

test('paused: nothing is copied, even across a worker restart; versions wait PENDING; resume drains them in order', async () => {
  const pausedAt = Date.now();
  await pauseSites(harness.temporal, harness.config, ['target'], { reason: 'maintenance' });
  await waitFor(
    'the worker to pause the site',
    async () => (harness.worker.sites()[0]!.state === 'paused' ? true : undefined),
    5_000,
  );
  // The bound: within 5 s of `pause` no new copy starts.
  expect(Date.now() - pausedAt).toBeLessThan(5_000);
  expect(await siteState(harness.temporal, harness.config.temporal.taskQueuePrefix, 'target')).toMatchObject({
    paused: true,
    reason: 'maintenance',
  });

  const versions = await writeChanges('paused/');
  await sleep(6_000);
  expect(await targetVersionCount('paused/')).toBe(0);
  const pending = await lookupReplication(
    harness.temporal,
    'target',
    harness.sourceBucket,
    'paused/key',
    versions[0],
  );
  expect(pending.versions.find((v) => v.versionId === versions[0])?.status).toBe('PENDING');

  // A worker that starts while the site is paused does not serve it either.
  await harness.stopWorker();
  await harness.startWorker();
  expect(harness.worker.sites()).toEqual([{ site: 'target', state: 'paused' }]);
  await sleep(3_000);
  expect(await targetVersionCount('paused/')).toBe(0);

  await resumeSites(harness.temporal, harness.config, ['target']);
  const last = await harness.waitForVersion('target', 'paused/other', versions[3]!, { timeoutMs: 60_000 });
  expect(last.status).toBe('COMPLETED');
  await waitFor(
    '5 entries on the target',
    async () => ((await targetVersionCount('paused/')) === 5 ? true : undefined),
    30_000,
  );
  await expectIdentical('paused/');
  expect(await siteState(harness.temporal, harness.config.temporal.taskQueuePrefix, 'target')).toMatchObject({
    paused: false,
  });
}, 180_000);

test('a pause with hours resumes on its own when the time is up', async () => {
  await pauseSites(harness.temporal, harness.config, ['target'], { hours: 4 / 3600 });
  await waitFor(
    'the worker to pause the site',
    async () => (harness.worker.sites()[0]!.state === 'paused' ? true : undefined),
    5_000,
  );
  const state = await siteState(harness.temporal, harness.config.temporal.taskQueuePrefix, 'target');
  expect(state.paused).toBe(true);
  expect(Date.parse(state.resumeAt!) - Date.now()).toBeLessThanOrEqual(4_000);
  const versions = await writeChanges('scheduled/');
  await waitFor(
    'the scheduled resume',
    async () => (harness.worker.sites()[0]!.state === 'running' ? true : undefined),
    15_000,
  );
  expect((await siteState(harness.temporal, harness.config.temporal.taskQueuePrefix, 'target')).reason).toBe(
    'resumed as scheduled',
  );
  await harness.waitForVersion('target', 'scheduled/other', versions[3]!, { timeoutMs: 60_000 });
  await waitFor(
    '5 entries on the target',
    async () => ((await targetVersionCount('scheduled/')) === 5 ? true : undefined),
    30_000,
  );
  await expectIdentical('scheduled/');
}, 120_000);

test('a key whose run was terminated from the UI or CLI is reported as such by status', async () => {
  await pauseSites(harness.temporal, harness.config, ['target'], {});
  await waitFor(
    'the worker to pause the site',
    async () => (harness.worker.sites()[0]!.state === 'paused' ? true : undefined),
    5_000,
  );
  const put = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'terminated/key', Body: 'x' }),
  );
  const workflowId = replicationWorkflowId('target', harness.sourceBucket, 'terminated/key');
  await waitFor(
    'the populator to start the run',
    async () => (await harness.temporal.workflow.getHandle(workflowId).describe()).runId,
    30_000,
  );
  await harness.temporal.workflow.getHandle(workflowId).terminate('operator gave up');
  await resumeSites(harness.temporal, harness.config, ['target']);
  const lines: string[] = [];
  await runStatus(
    harness.temporal,
    harness.config,
    `s3://${harness.sourceBucket}/terminated/key`,
    put.VersionId,
    (l) => lines.push(l),
  );
  const output = lines.join('\n');
  expect(output).toMatch(
    /target: the replication run of .*terminated\/key was terminated \(from the Temporal UI or CLI\)/,
  );
  expect(output).toMatch(new RegExp(`target: PENDING put version ${put.VersionId}`));
  // `replication failed` lists the key too.
  const ended = await listEnded(harness.temporal, { site: 'target', bucket: harness.sourceBucket });
  expect(ended).toEqual([
    {
      workflowId,
      bucket: harness.sourceBucket,
      key: 'terminated/key',
      site: 'target',
      runStatus: 'TERMINATED',
    },
  ]);
}, 60_000);

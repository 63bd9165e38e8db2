/**
 * The operator commands as a user runs them (`replication pause|resume|status|retry|dismiss`,
 * a real process per command), against the real stack: exit codes, output, and refusals
 * that name the option.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { runReplicationCli } from '../support/cli-process';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const harness = new ReplicationHarness(stack, 'cli', [{ site: 'target', bucket: uniqueBucket('cli-dst') }], {
  pausePollMs: 500,
});

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

const replication = (...args: string[]) => runReplicationCli(harness.configPath, args);

test('pause and resume a site; status says it is paused; bad options are refused by name', async () => {
  const badHours = await replication('pause', '--site', 'target', '--hours', '-2');
  expect(badHours.code).not.toBe(0);
  expect(badHours.stderr).toMatch(/--hours must be a positive number \(got "-2"\)/);
  const unknown = await replication('pause', '--site', 'nowhere');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/unknown destination site "nowhere"/);

  const paused = await replication('pause', '--site', 'target', '--hours', '1', '--reason', 'maintenance');
  expect(paused).toMatchObject({ code: 0 });
  expect(paused.stdout).toMatch(/^site target: PAUSED since \S+, resumes at \S+ \(maintenance\)$/m);
  // The pause holds within worker.pausePollMs (500 ms here) of the control workflow's update:
  // write once the worker says the site is paused.
  await waitFor(
    'the worker to pause the site',
    async () => (harness.worker.sites()[0]!.state === 'paused' ? true : undefined),
    10_000,
  );
  const put = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'cli/key', Body: 'x' }),
  );
  // The populator still signals: the version waits PENDING, and status says why.
  let status = '';
  for (let i = 0; i < 40 && !/PENDING put/.test(status); i++) {
    status = (await replication('status', `s3://${harness.sourceBucket}/cli/key`)).stdout;
    if (!/PENDING put/.test(status)) await new Promise((r) => setTimeout(r, 500));
  }
  expect(status).toMatch(/site target: PAUSED since/);
  expect(status).toMatch(new RegExp(`target: PENDING put version ${put.VersionId}`));

  const resumed = await replication('resume', '--site', 'target');
  expect(resumed.stdout.trim()).toBe('site target: replicating');
  const done = await harness.waitForVersion('target', 'cli/key', put.VersionId!, { timeoutMs: 30_000 });
  expect(done.status).toBe('COMPLETED');
}, 180_000);

test('retry --wait with nothing failed, and dismiss of nothing, say so and succeed', async () => {
  const retry = await replication('retry', `s3://${harness.sourceBucket}`, '--wait', '5');
  expect(retry).toMatchObject({ code: 0 });
  expect(retry.stdout.trim()).toBe('retrying failed versions of 0 key(s)');
  const dismiss = await replication('dismiss', `s3://${harness.sourceBucket}/cli/key`);
  expect(dismiss.stdout.trim()).toBe('dismissed the failed versions of 0 key(s)');
  // No third-party deprecation notice on an operator command.
  expect(retry.stderr + dismiss.stderr).not.toMatch(/NodeVersionSupportWarning/);
}, 60_000);

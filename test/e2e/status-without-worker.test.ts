import { PutObjectCommand } from '@aws-sdk/client-s3';
import { listFailed } from '../../operations/failures';
import { formatSiteReplication } from '../../cli/commands/status';
import { lookupReplication } from '../../operations/replication-lookup';
import { ReplicationHarness } from '../support/replication-harness';
import { waitFor } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);

const harness = new ReplicationHarness(
  stack,
  'status',
  [{ site: 'target', bucket: uniqueBucket('status-dst') }],
  { maxAttempts: 200, initialRetryIntervalMs: 500, maxRetryIntervalMs: 1000 },
  (raw) => {
    const rule = (id: string, prefix: string, site: string, priority: number) => ({
      ID: id,
      Priority: priority,
      Status: 'Enabled',
      Filter: { Prefix: prefix },
      Destination: { Bucket: `arn:aws:s3:::${harness.destinations[0]!.bucket}`, StorageClass: site },
      DeleteMarkerReplication: { Status: 'Disabled' },
    });
    // Nothing listens there: every attempt fails with a connection error and is retried.
    raw.sites['unreachable-site'] = { endpoint: 'http://127.0.0.1:9', profile: 'crr-target' };
    // Wrong credentials: the first attempt fails for good.
    raw.sites['denied-site'] = { endpoint: stack.sites.target.endpoint, profile: 'crr-bad' };
    raw.replication[harness.sourceBucket]!.Rules.push(
      rule('to-unreachable', 'unreachable/', 'unreachable-site', 98),
      rule('to-denied', 'denied/', 'denied-site', 99),
    );
  },
  { 'crr-bad': { accessKeyId: 'not-a-real-key', secretAccessKey: 'not-a-real-secret' } },
);

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

test('status and failed answer from the Temporal server alone while every worker is stopped', async () => {
  const retrying = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'unreachable/object', Body: 'x' }),
  );
  const denied = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'denied/object', Body: 'y' }),
  );
  // Past the quick local attempts, the server schedules the retries: attempt and last error are visible.
  await harness.waitForVersion('unreachable-site', 'unreachable/object', retrying.VersionId!, {
    until: (v) => v.status === 'PROCESSING' && v.attempts >= 4 && v.reason !== undefined,
  });
  expect((await harness.waitForVersion('denied-site', 'denied/object', denied.VersionId!)).status).toBe(
    'FAILED',
  );

  await harness.stopWorker();
  try {
    const started = Date.now();
    const [unreachable, deniedStatus, failed] = await Promise.all([
      lookupReplication(harness.temporal, 'unreachable-site', harness.sourceBucket, 'unreachable/object'),
      lookupReplication(harness.temporal, 'denied-site', harness.sourceBucket, 'denied/object'),
      listFailed(harness.temporal, { bucket: harness.sourceBucket }),
    ]);
    const elapsed = Date.now() - started;
    // A query would wait for a worker until the RPC gives up; the server's own state answers at once.
    expect(elapsed).toBeLessThan(5_000);

    const version = unreachable.versions.find((v) => v.versionId === retrying.VersionId);
    expect(version).toMatchObject({ status: 'PROCESSING' });
    expect(version!.attempts).toBeGreaterThanOrEqual(4);
    expect(version!.reason).toMatch(/ECONNREFUSED|connect|Timeout|socket/i);
    const line = formatSiteReplication(unreachable, 's3://b/unreachable/object').join('\n');
    expect(line).toMatch(/PROCESSING put version \S+ attempts \d+; .* retrying: .*last error: /);

    expect(deniedStatus.versions.find((v) => v.versionId === denied.VersionId)).toMatchObject({
      status: 'FAILED',
      reason: expect.stringContaining('denied/object'),
    });
    expect(failed).toEqual([
      expect.objectContaining({
        key: 'denied/object',
        site: 'denied-site',
        failedCount: 1,
        failed: [expect.objectContaining({ versionId: denied.VersionId, reason: expect.any(String) })],
      }),
    ]);
  } finally {
    await harness.startWorker();
  }
  // With a worker back, the same answers.
  await waitFor('the denied version to be listed by a running engine', async () => {
    const again = await listFailed(harness.temporal, { bucket: harness.sourceBucket });
    return again.length === 1 ? again : undefined;
  });
}, 120_000);

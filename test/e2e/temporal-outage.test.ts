import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReplicationHarness } from '../support/replication-harness';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const [temporalHost, temporalPort] = stack.temporal.address.split(':') as [string, string];
const proxy = new TcpProxy(temporalHost, Number(temporalPort));

let harness: ReplicationHarness;

beforeAll(async () => {
  await proxy.open();
  harness = new ReplicationHarness(
    stack,
    'outage',
    [{ site: 'target', bucket: uniqueBucket('outage-dst') }],
    {},
    undefined,
    {},
    proxy.address,
  );
  await harness.start();
}, 120_000);
afterAll(() => harness.stop(), 60_000);

test('while Temporal is unreachable the populator pauses, then resumes without skipping anything', async () => {
  const bucket = harness.destinations[0]!.bucket;
  const before = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'before', Body: '1' }),
  );
  expect((await harness.waitForVersion('target', 'before', before.VersionId!)).status).toBe('COMPLETED');

  await proxy.cut();
  const during = await source.send(
    new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'during-outage', Body: '2' }),
  );
  // Longer than MinIO's 3 s delivery interval plus a replication: with Temporal reachable it would be done.
  await new Promise((r) => setTimeout(r, 8000));
  await expect(
    target.send(new HeadObjectCommand({ Bucket: bucket, Key: 'during-outage' })),
  ).rejects.toMatchObject({ name: 'NotFound' });

  await proxy.open();
  const status = await harness.waitForVersion('target', 'during-outage', during.VersionId!, {
    timeoutMs: 90_000,
  });
  expect(status.status).toBe('COMPLETED');
  const replica = await target.send(new HeadObjectCommand({ Bucket: bucket, Key: 'during-outage' }));
  expect(replica.Metadata?.['scal-version-id']).toBe(during.VersionId);
}, 180_000);

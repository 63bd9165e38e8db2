/**
 * The one multipart decision (shared/copy-plan.ts) on the real stack: the workflow plans each
 * put from the journal's size; a journal entry without a size takes the resumable path; an
 * entry that says less than the source holds is planned again from the real size, never run
 * as a local activity or a single PUT of the wrong size.
 */
import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { temporal as proto } from '@temporalio/proto';
import { replicationWorkflowId } from '../../shared/workflow-id';
import {
  backbeatObjectMetadata,
  backbeatPutMessage,
  produceTo,
  quietVersionedObject,
} from '../support/journal-records';
import { ReplicationHarness } from '../support/replication-harness';
import { md5Of } from '../support/s3-helpers';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const EventType = proto.api.enums.v1.EventType;
const MiB = 1024 * 1024;
const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);

// Multipart above 6 MiB in 5 MiB parts, local activities up to 8 MiB (the default).
const harness = new ReplicationHarness(
  stack,
  'multipart-plan',
  [{ site: 'target', bucket: uniqueBucket('plan-dst') }],
  {
    multipartThresholdBytes: 6 * MiB,
    partSizeBytes: 5 * MiB,
    partConcurrency: 2,
  },
);
const destination = harness.destinations[0]!;

beforeAll(() => harness.start(), 120_000);
afterAll(() => harness.stop(), 60_000);

/** Writes `bytes` to a quiet source bucket and produces a Backbeat entry claiming `journalSize`. */
async function replicateWithJournalSize(key: string, bytes: Buffer, journalSize: number | undefined) {
  const { bucket, put } = await quietVersionedObject(source, key, bytes);
  const metadata = backbeatObjectMetadata(key, put, journalSize, destination);
  await produceTo(stack, [backbeatPutMessage(bucket, key, put.VersionId!, metadata)]);
  const status = await harness.waitForVersion('target', key, put.VersionId!, { bucket, timeoutMs: 120_000 });
  const history = await harness.temporal.workflow
    .getHandle(replicationWorkflowId('target', bucket, key))
    .fetchHistory();
  const events = history.events ?? [];
  const count = (type: number) => events.filter((e) => e.eventType === type).length;
  return {
    status,
    localActivityMarkers: count(EventType.EVENT_TYPE_MARKER_RECORDED),
    regularActivities: count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
    replicaEtag: (
      await target.send(new HeadObjectCommand({ Bucket: destination.bucket, Key: key }))
    ).ETag?.replace(/"/g, ''),
    replicaMd5: await md5Of(target, destination.bucket, key),
  };
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('the workflow decides multipart once, from the journal', () => {
  test('a put whose journal entry has no size is copied as a resumable multipart upload', async () => {
    const bytes = randomBytes(12 * MiB);
    const r = await replicateWithJournalSize('plan/no-size.bin', bytes, undefined);
    expect(r.status.status).toBe('COMPLETED');
    expect(r.localActivityMarkers).toBe(0);
    expect(r.regularActivities).toBe(1);
    expect(r.replicaEtag).toMatch(/-3$/); // 12 MiB in 5 MiB parts
    expect(r.replicaMd5).toBe(md5(bytes));
  }, 180_000);

  test('a journal that says less than the source holds: planned again from the real size, resumable', async () => {
    const bytes = randomBytes(12 * MiB);
    const r = await replicateWithJournalSize('plan/understated.bin', bytes, 100);
    expect(r.status.status).toBe('COMPLETED');
    // The local activity refused (one marker), then one regular activity did the multipart copy.
    expect(r.localActivityMarkers).toBe(1);
    expect(r.regularActivities).toBe(1);
    expect(r.replicaEtag).toMatch(/-3$/);
    expect(r.replicaMd5).toBe(md5(bytes));
  }, 180_000);

  test('a journal size above the threshold copies multipart at once; a small one is one local PUT', async () => {
    const big = randomBytes(7 * MiB);
    const large = await replicateWithJournalSize('plan/large.bin', big, big.length);
    expect(large.localActivityMarkers).toBe(0);
    expect(large.regularActivities).toBe(1);
    expect(large.replicaEtag).toMatch(/-2$/);
    expect(large.replicaMd5).toBe(md5(big));

    const small = randomBytes(64 * 1024);
    const one = await replicateWithJournalSize('plan/small.bin', small, small.length);
    expect(one.localActivityMarkers).toBe(1);
    expect(one.regularActivities).toBe(0);
    expect(one.replicaEtag).toBe(md5(small)); // a single PUT's ETag is the MD5
  }, 180_000);
});

/**
 * The reproductions of ordering and idempotency bugs: put/delete/put back to back, a hot
 * key, a versioning-suspended bucket, user metadata at S3's 2 KiB limit, and a duplicate
 * journal delivery of a PUT after its delete marker was replicated.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { listKeyHistory } from '../support/ordered-versions';
import { longestIncreasingRun } from '../support/replica-check';
import { md5Of } from '../support/s3-helpers';
import { uniqueBucket } from '../support/stack';
import { ScenarioEngine } from './support/engine';
import type { FaultStack } from './support/fault-stack';
import { journalRecordOf, readTopic } from './support/kafka-tools';
import { scenario, sleep, useFaultStack, type ScenarioRun } from './support/scenario';
import { settleAndCheck } from './support/settle';
import { waitForHistory, waitForJournalRead } from './support/waits';

const stack = useFaultStack('ordering-races');

test('the checker reads versions and delete markers in their true order (raw XML of ListObjectVersions)', async () => {
  const s = stack.get();
  const Bucket = uniqueBucket('f-order-probe');
  await s.source.send(new CreateBucketCommand({ Bucket }));
  await s.source.send(
    new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const Key = 'odd/xml-&-<specials>-"quoted"';
  const v1 = await s.source.send(new PutObjectCommand({ Bucket, Key, Body: '1' }));
  const d1 = await s.source.send(new DeleteObjectCommand({ Bucket, Key }));
  const v2 = await s.source.send(new PutObjectCommand({ Bucket, Key, Body: '2' }));
  const d2 = await s.source.send(new DeleteObjectCommand({ Bucket, Key }));
  const history = await listKeyHistory(s.source, Bucket, Key);
  expect(history.map((h) => `${h.kind}:${h.versionId}`)).toEqual([
    `version:${v1.VersionId}`,
    `delete-marker:${d1.VersionId}`,
    `version:${v2.VersionId}`,
    `delete-marker:${d2.VersionId}`,
  ]);
}, 60_000);

scenario(
  {
    id: 'put-delete-put',
    ci: true,
    title: 'put v1, DELETE, put v2 back to back on 30 keys',
    timeoutMs: 600_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'put-delete-put'));
    await engine.start();
    const keys = Array.from({ length: 30 }, (_, i) => `pdp/${String(i).padStart(2, '0')}`);
    const started = Date.now();
    await Promise.all(
      keys.map(async (Key) => {
        const Bucket = engine.sourceBucket;
        await s.source.send(new PutObjectCommand({ Bucket, Key, Body: randomBytes(2048) }));
        await s.source.send(new DeleteObjectCommand({ Bucket, Key }));
        await s.source.send(new PutObjectCommand({ Bucket, Key, Body: randomBytes(4096) }));
      }),
    );
    run.facts.writeMs = Date.now() - started;
    run.check(await settleAndCheck(s, engine, { deleteMarkers: true, deadlineMs: 180_000 }));
  },
);

/**
 * 1,200 overwrites of one key, `writers` at a time: with one writer the source's version order
 * is the order of the writes; with several, MinIO orders concurrent versions itself, and the
 * journal diagnostic says whether its events kept that order.
 */
function hotKey(writers: number) {
  return async (run: ScenarioRun) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, writers > 1 ? 'hot-key' : 'hot-key-1'));
    await engine.start();
    const key = 'hot/the-key';
    const limit = pLimit(writers);
    const started = Date.now();
    let errors = 0;
    await Promise.all(
      Array.from({ length: 1200 }, (_, i) =>
        limit(() =>
          s.source
            .send(
              new PutObjectCommand({
                Bucket: engine.sourceBucket,
                Key: key,
                Body: `overwrite ${i} ${randomBytes(8).toString('hex')}`,
              }),
            )
            .catch(() => {
              errors += 1;
            }),
        ),
      ),
    );
    const writeMs = Date.now() - started;
    run.facts.writes = {
      count: 1200 - errors,
      errors,
      seconds: writeMs / 1000,
      perSecond: Math.round((1200 - errors) / (writeMs / 1000)),
    };
    const check = await settleAndCheck(s, engine, {
      deleteMarkers: true,
      deadlineMs: 480_000,
      stableMs: 20_000,
    });
    run.recovery.drainMs = check.settle.settleMs;
    run.check(check);
    // How many workflow runs the key took, and whether the populator lost its group membership.
    let runs = 0;
    for await (const _ of s.temporal.workflow.list({
      query: `CrrBucket = '${engine.sourceBucket}' AND CrrKey = '${key}'`,
    })) {
      runs += 1;
    }
    run.facts.workflowRuns = runs;
    run.facts.journalOrder = await journalOrderOf(
      s,
      engine.sourceBucket,
      engine.config.kafka.journalTopic,
      key,
    );
    run.facts.rebalanceLogLines = engine.populator.grep(
      /rebalanc|not aware of this member|coordinator/i,
      1000,
    ).length;
  };
}

scenario(
  {
    id: 'hot-key',
    title: '1,200 overwrites of one key as fast as the source accepts (8 writers)',
    timeoutMs: 900_000,
  },
  stack,
  hotKey(8),
);

scenario(
  {
    id: 'hot-key-1',
    title: '1,200 overwrites of one key, one writer, as fast as it goes',
    timeoutMs: 900_000,
  },
  stack,
  hotKey(1),
);

scenario(
  {
    id: 'suspended-versioning',
    ci: true,
    title: "overwrites in a versioning-suspended bucket: the target's latest holds the source's latest bytes",
    timeoutMs: 600_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'suspended'));
    await engine.start();
    const keys = Array.from({ length: 5 }, (_, i) => `suspended/${i}`);
    // One versioned write first, then versioning suspended: every later write is version "null".
    for (const Key of keys) {
      await s.source.send(
        new PutObjectCommand({ Bucket: engine.sourceBucket, Key, Body: `versioned ${Key}` }),
      );
    }
    await s.source.send(
      new PutBucketVersioningCommand({
        Bucket: engine.sourceBucket,
        VersioningConfiguration: { Status: 'Suspended' },
      }),
    );
    // Overwrites far enough apart (MinIO's journal tick is 3 s) that each one is replicated
    // before the next: the copy of "null" then reads the bytes of that overwrite, and a
    // later overwrite taken for "already replicated" leaves stale bytes on the target.
    await Promise.all(
      keys.map(async (Key) => {
        for (let i = 0; i < 4; i++) {
          await s.source.send(
            new PutObjectCommand({
              Bucket: engine.sourceBucket,
              Key,
              Body: `null overwrite ${i} ${randomBytes(16).toString('hex')}`,
            }),
          );
          await sleep(6_000);
        }
      }),
    );
    const check = await settleAndCheck(s, engine, {
      deleteMarkers: true,
      deadlineMs: 180_000,
      stableMs: 15_000,
    });
    run.check(check);
    const stale: string[] = [];
    for (const Key of keys) {
      const [want, got] = await Promise.all([
        md5Of(s.source, engine.sourceBucket, Key),
        md5Of(s.target, engine.targetBucket, Key).catch((err: unknown) => `error: ${(err as Error).message}`),
      ]);
      if (want !== got) stale.push(`${Key}: source latest MD5 ${want}, target latest ${got}`);
    }
    run.facts.staleLatest = stale.length;
    run.expect(stale.length === 0, `target latest bytes differ from the source's:\n${stale.join('\n')}`);
  },
);

/**
 * Diagnostic of a hot key: how far the journal's order of its events (and the order of their
 * sequencers) departs from the source's own version order, so that a target that differs can
 * be told apart from a journal that already did.
 */
async function journalOrderOf(s: FaultStack, bucket: string, topic: string, key: string) {
  const listed = (await listKeyHistory(s.source, bucket, key)).filter((v) => v.kind === 'version');
  const position = new Map(listed.map((v, i) => [v.versionId, i]));
  const events = await readTopic(
    s.kafka,
    topic,
    (m) => {
      if (m.key?.toString() !== `${bucket}/${key}`) return undefined;
      try {
        const record = (
          JSON.parse(m.value!.toString()) as {
            Records: Array<{ s3: { object: { versionId?: string; sequencer?: string } } }>;
          }
        ).Records[0]!;
        return { versionId: record.s3.object.versionId ?? '', sequencer: record.s3.object.sequencer ?? '0' };
      } catch {
        return undefined;
      }
    },
    { idleMs: 3_000 },
  );
  const inJournalOrder = events
    .map((e) => position.get(e.versionId))
    .filter((i): i is number => i !== undefined);
  const bySequencer = [...events]
    .sort((a, b) => (BigInt(`0x${a.sequencer}`) < BigInt(`0x${b.sequencer}`) ? -1 : 1))
    .map((e) => position.get(e.versionId))
    .filter((i): i is number => i !== undefined);
  return {
    events: events.length,
    distinctVersions: new Set(events.map((e) => e.versionId)).size,
    journalOutOfSourceOrder: inJournalOrder.length - longestIncreasingRun(inJournalOrder),
    sequencerOutOfSourceOrder: bySequencer.length - longestIncreasingRun(bySequencer),
  };
}

/** The largest value of one metadata field the source accepts (MinIO: name + value ≤ 2 KiB). */
async function largestAcceptedMetadata(source: S3Client, name: string): Promise<number> {
  const Bucket = uniqueBucket('f-meta-probe');
  await source.send(new CreateBucketCommand({ Bucket }));
  let lo = 1;
  let hi = 4096;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const ok = await source
      .send(new PutObjectCommand({ Bucket, Key: 'probe', Body: 'x', Metadata: { [name]: 'm'.repeat(mid) } }))
      .then(
        () => true,
        () => false,
      );
    if (ok) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

scenario(
  {
    id: 'metadata-limit',
    ci: true,
    title: "an object with user metadata at S3's 2 KiB limit replicates with its metadata intact",
    timeoutMs: 600_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'metadata-limit'));
    await engine.start();
    const single = await largestAcceptedMetadata(s.source, 'blob');
    run.facts.largestSingleValue = single;
    run.facts.metadataBytesAsMinioCounts = 'x-amz-meta-blob'.length + single;
    // One field at the limit; and several fields that add up to it.
    await s.source.send(
      new PutObjectCommand({
        Bucket: engine.sourceBucket,
        Key: 'meta/one-field',
        Body: 'one field at the limit',
        Metadata: { blob: 'a'.repeat(single) },
      }),
    );
    const fields: Record<string, string> = {};
    let budget = 'x-amz-meta-blob'.length + single;
    for (let i = 0; budget > 0; i++) {
      const name = `field-${i}`;
      const room = budget - ('x-amz-meta-'.length + name.length);
      if (room <= 0) break;
      fields[name] = 'v'.repeat(Math.min(300, room));
      budget -= 'x-amz-meta-'.length + name.length + fields[name].length;
    }
    const many = await s.source
      .send(
        new PutObjectCommand({
          Bucket: engine.sourceBucket,
          Key: 'meta/many-fields',
          Body: 'many fields',
          Metadata: fields,
        }),
      )
      .then(
        () => 'accepted',
        (err: unknown) => `refused: ${(err as Error).message}`,
      );
    run.facts.manyFields = { count: Object.keys(fields).length, source: many };
    const check = await settleAndCheck(s, engine, {
      deleteMarkers: true,
      deadlineMs: 120_000,
      compareMetadataOf: () => true,
    });
    run.check(check);
  },
);

scenario(
  {
    id: 'duplicate-after-delete-marker',
    ci: true,
    title: 'a duplicate journal delivery of a PUT after its delete marker was replicated changes nothing',
    timeoutMs: 600_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'dup-after-dm'));
    await engine.start();
    const keys = Array.from({ length: 5 }, (_, i) => `dup/${i}`);
    const puts = new Map<string, string>();
    await Promise.all(
      keys.map(async (Key) => {
        const put = await s.source.send(
          new PutObjectCommand({ Bucket: engine.sourceBucket, Key, Body: `body of ${Key}` }),
        );
        puts.set(Key, put.VersionId!);
        const replicated = await waitForHistory(
          s.target,
          engine.targetBucket,
          Key,
          (h) => h.length === 1,
          60_000,
        );
        if (!replicated.ok) throw new Error(`${Key} version ${put.VersionId} not replicated within 60 s`);
        await s.source.send(new DeleteObjectCommand({ Bucket: engine.sourceBucket, Key }));
        const marked = await waitForHistory(
          s.target,
          engine.targetBucket,
          Key,
          (h) => h.at(-1)?.kind === 'delete-marker',
          60_000,
        );
        if (!marked.ok) throw new Error(`${Key}: delete marker not replicated within 60 s`);
      }),
    );
    // Redeliver each PUT's journal record, as a consumer-group rebalance or a restart would.
    for (const Key of keys) {
      const record = await journalRecordOf(
        s.kafka,
        engine.config.kafka.journalTopic,
        engine.sourceBucket,
        Key,
        puts.get(Key)!,
        /ObjectCreated/,
      );
      // Same record key: the partitioner sends it to the partition of the original.
      const producer = s.kafka.producer();
      await producer.connect();
      await producer.send({ topic: engine.config.kafka.journalTopic, messages: [record] });
      await producer.disconnect();
    }
    const read = await waitForJournalRead(s, engine, 60_000);
    run.expect(read.ok, `the populator did not read the redelivered records within 60 s (lag ${read.lag})`);
    await sleep(5_000);
    run.check(
      await settleAndCheck(s, engine, { deleteMarkers: true, deadlineMs: 120_000, stableMs: 10_000 }),
    );
  },
);

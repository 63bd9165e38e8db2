/**
 * Inputs that must never stop the journal: a 1 MiB bad message, a version deleted on the
 * source before the populator reads it under a tag-filtered rule, and 10,000 fuzzed
 * messages mixed with valid ones. Each ends with the per-key check of the valid traffic.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import { lookupReplication } from '../../operations/replication-lookup';
import { fuzzJournalMessages } from '../support/journal-fuzz';
import { ScenarioEngine } from './support/engine';
import { consumerLag, partitionCount, produceWithOffsets, readTopic } from './support/kafka-tools';
import { LoadGenerator, loadKeys } from './support/load';
import { scenario, sleep, useFaultStack } from './support/scenario';
import { settleAndCheck } from './support/settle';
import { waitForJournalRead } from './support/waits';

const stack = useFaultStack('journal-inputs');

interface Letter {
  reason: string;
  topic?: string;
  partition?: number;
  offset?: string;
  key?: string | null;
  bytes: number;
}

/** Every dead letter whose origin is one of `origins` (journal partition/offset). */
async function deadLettersFor(
  kafka: Kafka,
  deadLetterTopic: string,
  journalTopic: string,
  origins: Set<string>,
): Promise<Map<string, Letter>> {
  const found = new Map<string, Letter>();
  await readTopic(
    kafka,
    deadLetterTopic,
    (m) => {
      let letter: Letter;
      try {
        const parsed = JSON.parse(m.value?.toString() ?? '') as Partial<Letter>;
        letter = {
          reason: String(parsed.reason ?? ''),
          topic: parsed.topic,
          partition: parsed.partition,
          offset: parsed.offset,
          key: parsed.key,
          bytes: m.value?.length ?? 0,
        };
      } catch {
        return undefined;
      }
      const origin = m.headers['crr-origin'];
      const id =
        letter.topic === journalTopic && letter.partition !== undefined
          ? `${letter.partition}/${letter.offset}`
          : origin?.startsWith(`${journalTopic}/`)
            ? origin.slice(journalTopic.length + 1)
            : undefined;
      if (id && origins.has(id)) found.set(id, letter);
      return undefined;
    },
    { idleMs: 3_000, timeoutMs: 120_000, until: () => found.size >= origins.size },
  );
  return found;
}

scenario(
  {
    id: 'bad-1mib-message',
    ci: true,
    title: 'a 1 MiB bad journal message is dead-lettered and stops nothing',
    timeoutMs: 600_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'bad-1mib'));
    await engine.start();
    const topic = engine.config.kafka.journalTopic;
    const load = new LoadGenerator(s.source, engine.sourceBucket, loadKeys(60), { rate: 10, largeShare: 0 });
    load.start();
    await sleep(5_000);
    // The largest message the broker takes near 1 MiB (its default limit is 1 MiB + 12 bytes per batch).
    const partitions = await partitionCount(s.kafka, topic);
    let produced: { partition: number; offset: string; size: number } | undefined;
    for (const size of [1024 * 1024, 1024 * 1024 - 256, 1024 * 1024 - 512, 1024 * 1024 - 1024, 1000 * 1000]) {
      const value = Buffer.alloc(size, 'x');
      Buffer.from('{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":').copy(value, 0);
      try {
        const [where] = await produceWithOffsets(s.kafka, topic, [
          { key: `${engine.sourceBucket}/big-bad-message`, value, partition: 0 },
        ]);
        produced = { ...where!, size };
        break;
      } catch {
        // too large for the broker: one size down
      }
    }
    if (!produced) throw new Error('the broker refused every message size near 1 MiB');
    run.facts.badMessage = produced;
    run.facts.partitions = partitions;
    await sleep(25_000);
    await load.stop();
    run.facts.load = load.summary();
    load.writeLog(`${engine.dir}/load-ops.jsonl`);
    const read = await waitForJournalRead(s, engine, 120_000);
    run.recovery.journalReadMs = read.ms;
    run.expect(
      read.ok,
      `journal not read to its end 120 s after the load stopped (lag ${read.lag}): a partition is wedged; populator log:\n${engine.populator
        .grep(/dead|letter|too large|MESSAGE_TOO_LARGE|retry|error/i, 15)
        .join('\n')}`,
    );
    const origin = `${produced.partition}/${produced.offset}`;
    const letters = await deadLettersFor(
      s.kafka,
      engine.config.kafka.deadLetterTopic,
      topic,
      new Set([origin]),
    );
    const letter = letters.get(origin);
    run.facts.deadLetter = letter ? { reason: letter.reason.slice(0, 200), bytes: letter.bytes } : null;
    run.expect(
      letter !== undefined && letter.reason.length > 0,
      `no dead letter (with a reason) for the ${produced.size}-byte message at partition ${produced.partition} offset ${produced.offset}`,
    );
    run.check(await settleAndCheck(s, engine, { deleteMarkers: true, deadlineMs: 120_000 }));
  },
);

scenario(
  {
    id: 'vanished-version-tag-rule',
    ci: true,
    title:
      'a version deleted on the source before the populator reads it, under a tag-filtered rule: other keys keep replicating',
    timeoutMs: 600_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'vanished', {
      deleteMarkers: false,
      editConfig: (raw, e) => {
        const rule = raw.replication[e.sourceBucket]!.Rules[0]!;
        rule.Filter = { Tag: { Key: 'replicate', Value: 'yes' } };
      },
    }));
    await engine.start();
    const Bucket = engine.sourceBucket;
    const tagged = { Tagging: 'replicate=yes' };
    // The populator is stopped while the version comes and goes: it reads the journal later.
    await engine.populator.sigterm();
    run.expect(
      await engine.populator.proc.waitForExit(30_000),
      'the populator did not stop within 30 s of SIGTERM',
    );
    const before = Array.from({ length: 20 }, (_, i) => `before/${i}`);
    for (const Key of before)
      await s.source.send(new PutObjectCommand({ Bucket, Key, Body: Key, ...tagged }));
    const vanished: Array<{ key: string; versionId: string }> = [];
    for (let i = 0; i < 3; i++) {
      const key = `vanish/${i}`;
      const put = await s.source.send(new PutObjectCommand({ Bucket, Key: key, Body: key, ...tagged }));
      await s.source.send(new DeleteObjectCommand({ Bucket, Key: key, VersionId: put.VersionId }));
      vanished.push({ key, versionId: put.VersionId! });
    }
    await sleep(4_000); // MinIO's notification queue replays every 3 s
    const restartedAt = Date.now();
    await engine.populator.restart();
    const after = Array.from({ length: 20 }, (_, i) => `after/${i}`);
    for (const Key of after) await s.source.send(new PutObjectCommand({ Bucket, Key, Body: Key, ...tagged }));
    const check = await settleAndCheck(s, engine, { deleteMarkers: false, deadlineMs: 180_000 });
    run.recovery.settleAfterRestartMs = Date.now() - restartedAt;
    run.check(check);
    const outcomes: string[] = [];
    for (const v of vanished) {
      const r = await lookupReplication(s.temporal, engine.site, Bucket, v.key, v.versionId).catch(
        () => undefined,
      );
      const status = r?.versions.at(-1);
      outcomes.push(
        `${v.key} ${v.versionId}: ${status ? `${status.status}${status.reason ? ` (${status.reason.slice(0, 160)})` : ''}${status.detail ? ` [${status.detail}]` : ''}` : `no workflow status (run ${r?.runStatus ?? '?'})`}`,
      );
    }
    run.facts.vanishedOutcomes = outcomes;
  },
);

scenario(
  {
    id: 'fuzz-10000',
    title:
      '10,000 fuzzed journal messages mixed with valid ones: every bad one dead-lettered, lag back to 0 within 60 s',
    timeoutMs: 900_000,
  },
  stack,
  async (run) => {
    const s = run.stack;
    const engine = (run.engine = new ScenarioEngine(s, 'fuzz'));
    await engine.start();
    const topic = engine.config.kafka.journalTopic;
    const seed = Number(process.env.FAULT_FUZZ_SEED ?? Date.now() % 2 ** 31);
    run.facts.seed = seed;
    const messages = fuzzJournalMessages(10_000, {
      seed,
      bucket: `fuzz-no-rules-${engine.id}`.slice(0, 63),
      keyPrefix: `fuzz-${engine.id}-`,
      mutatedShare: 0.3,
    });
    const partitions = await partitionCount(s.kafka, topic);
    const load = new LoadGenerator(s.source, engine.sourceBucket, loadKeys(100), { rate: 10, largeShare: 0 });
    load.start();
    // Produce in requests of at most ~512 KiB (each partition's batch stays under the broker's
    // 1 MiB limit), spread over about 20 s so the fuzz interleaves with the valid events.
    const origins = new Map<string, (typeof messages)[number]>();
    const started = Date.now();
    let batch: Array<{ key: string; value: Buffer | null; partition: number; index: number }> = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const offsets = await produceWithOffsets(
        s.kafka,
        topic,
        batch.map((m) => ({ key: m.key, value: m.value, partition: m.partition })),
      );
      offsets.forEach((o, i) => origins.set(`${o.partition}/${o.offset}`, messages[batch[i]!.index]!));
      batch = [];
      batchBytes = 0;
      await sleep(Math.max(0, started + (20_000 * origins.size) / messages.length - Date.now()));
    };
    for (const [index, m] of messages.entries()) {
      const size = (m.value?.length ?? 0) + m.key.length + 64;
      if (batchBytes + size > 512 * 1024) await flush();
      batch.push({ key: m.key, value: m.value, partition: index % partitions, index });
      batchBytes += size;
    }
    await flush();
    const producedAt = Date.now();
    run.facts.produceSeconds = (producedAt - started) / 1000;
    await sleep(5_000);
    await load.stop();
    run.facts.load = load.summary();
    load.writeLog(`${engine.dir}/load-ops.jsonl`);
    const read = await waitForJournalRead(s, engine, 120_000);
    run.recovery.lagZeroAfterLastFuzzMs = read.ok ? Date.now() - producedAt : undefined;
    const lag = await consumerLag(s.kafka, engine.config.kafka.consumerGroup, topic);
    run.facts.partitionLags = lag.partitions.map((p) => p.lag);
    run.expect(
      read.ok && Date.now() - producedAt <= 60_000 + 5_000 + 1_000,
      `consumer lag not back to 0 within 60 s of the last fuzzed message (lag now ${lag.total}, per partition ${JSON.stringify(lag.partitions.map((p) => p.lag))}); populator log:\n${engine.populator
        .grep(/error|retry|stuck|rebalanc/i, 10)
        .join('\n')}`,
    );
    const refused = [...origins].filter(([, m]) => m.expect === 'refused');
    const letters = await deadLettersFor(
      s.kafka,
      engine.config.kafka.deadLetterTopic,
      topic,
      new Set(origins.keys()),
    );
    const missing = refused.filter(([origin]) => !letters.get(origin)?.reason);
    run.facts.fuzz = {
      messages: messages.length,
      mustBeRefused: refused.length,
      deadLettered: letters.size,
      deadLetteredMustBeRefused: refused.length - missing.length,
      missingDeadLetters: missing.length,
      largestLetterBytes: Math.max(0, ...[...letters.values()].map((l) => l.bytes)),
    };
    run.expect(
      missing.length === 0,
      `${missing.length} of ${refused.length} messages that must be refused have no dead letter with a reason (seed ${seed}), e.g.:\n${missing
        .slice(0, 10)
        .map(([origin, m]) => `  partition/offset ${origin}: ${m.mutation} (key ${m.key})`)
        .join('\n')}`,
    );
    run.check(await settleAndCheck(s, engine, { deleteMarkers: true, deadlineMs: 180_000 }));
  },
);

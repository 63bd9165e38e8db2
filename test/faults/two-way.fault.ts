/**
 * Two-way replication under kill -9: the same bucket on both sites, each a source for the
 * other, and a stream of tag changes made on either side while the worker is killed twice.
 * Every key must end with the same tags on both sites, those of its last change, with no
 * extra version, no echo and no key workflow left running.
 *
 * It failed in every run on 2026-11-26 (keys converging on both sites to a change older than
 * their last one) until five causes were found and fixed, and the populator stopped letting
 * one refused key hold its partition (docs/RELIABILITY.md, "Two-way tag sync under kill -9"
 * and "One refused key no longer holds its partition"); it is in CI's set since. On a failure
 * it saves the failing keys' workflow histories and journal records (with their Kafka append
 * times) next to the engine's logs.
 */
import {
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import fs from 'node:fs';
import path from 'node:path';
import { listHistories } from '../support/ordered-versions';
import { journalTopicsOf } from '../../config/engine-config';
import { ScenarioEngine } from './support/engine';
import { readTopic } from './support/kafka-tools';
import { LOAD_SECONDS, scenario, sleep, useFaultStack, type ScenarioRun } from './support/scenario';

const stack = useFaultStack('two-way');
const KEYS = 24;
/**
 * One tag change every 270 ms, keys in turn: each key changes every 6.5 s, from either side.
 * Not every 6 s: that is the engine's conflict wait, measured from a change, so every conflict
 * was settled within milliseconds of its key's next change, and the scenario kept replaying
 * the one race S3 leaves open (no conditional tag write: a user's change that reaches a side
 * between the engine's check and its write is overwritten; docs/RELIABILITY.md, "Open
 * problems"). It failed 2 of 4 CI runs that way. A kill can still put a settle anywhere.
 */
const CHANGE_EVERY_MS = 270;

type Tags = Record<string, string>;

async function userTagsOf(s3: S3Client, bucket: string, key: string): Promise<Tags> {
  const got = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return Object.fromEntries(
    (got.TagSet ?? [])
      .filter((t) => !t.Key!.startsWith('scal-crr'))
      .map((t) => [t.Key!, t.Value!] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

async function versionsOf(s3: S3Client, bucket: string, keys: string[]): Promise<Map<string, number>> {
  const histories = await listHistories(s3, bucket, 'tw/');
  return new Map(keys.map((k) => [k, (histories.get(k) ?? []).length]));
}

/** Polls `probe` every second until it returns true or `timeoutMs` passes; the time it took, or undefined. */
async function until(probe: () => Promise<boolean>, timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await probe().catch(() => false)) return Date.now() - started;
    await sleep(1_000);
  }
  return undefined;
}

scenario(
  {
    id: 'kill-worker-two-way-tags',
    ci: true,
    title: 'kill -9 of the worker twice during tag changes on both sides of a two-way pair',
    timeoutMs: 600_000,
  },
  stack,
  (run) => killDuringTwoWayTags(run),
);

async function killDuringTwoWayTags(run: ScenarioRun): Promise<void> {
  const s = run.stack;
  const engine = (run.engine = new ScenarioEngine(s, 'two-way-tags', { twoWay: true }));
  await engine.start();
  const bucket = engine.sourceBucket;
  const sites = { A: s.source, B: s.target };
  const keys = Array.from({ length: KEYS }, (_, i) => `tw/key-${i} é+%`);

  // Half the keys written on each side: each site holds originals and replicas.
  for (const [i, key] of keys.entries()) {
    await (i % 2 === 0 ? sites.A : sites.B).send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: `written on ${i % 2 === 0 ? 'A' : 'B'}` }),
    );
  }
  const copied = await until(async () => {
    const [a, b] = await Promise.all([versionsOf(sites.A, bucket, keys), versionsOf(sites.B, bucket, keys)]);
    return keys.every((k) => a.get(k) === 1 && b.get(k) === 1);
  }, 120_000);
  run.expect(copied !== undefined, 'the keys written on either side did not reach the other within 120 s');
  if (copied === undefined) return;

  // Tag changes on either side, keys in turn, while the worker is killed twice.
  const loadMs = Math.min(LOAD_SECONDS, 30) * 1000;
  const last = new Map<string, Tags>();
  const failures: string[] = [];
  let changes = 0;
  const loadStart = Date.now();
  const load = (async () => {
    const started = loadStart;
    for (let i = 0; Date.now() - started < loadMs; i++) {
      const key = keys[i % KEYS]!;
      // Not simply alternating: a key's successive changes land on both sides in varied order.
      const side = (i * 7 + Math.floor(i / KEYS)) % 3 === 0 ? 'B' : 'A';
      const tags = { change: String(i), side };
      try {
        await sites[side].send(
          new PutObjectTaggingCommand({
            Bucket: bucket,
            Key: key,
            Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
          }),
        );
        last.set(key, tags);
        changes++;
      } catch (err) {
        failures.push(`${key} on ${side}: ${(err as Error).message}`);
      }
      await sleep(Math.max(0, started + (i + 1) * CHANGE_EVERY_MS - Date.now()));
    }
  })();
  for (const at of [loadMs / 3, (2 * loadMs) / 3]) {
    await sleep(Math.max(0, loadStart + at - Date.now()));
    await engine.worker.kill9();
    await sleep(2_000);
    await engine.worker.restart();
  }
  await load;
  run.facts.tagChanges = changes;
  run.expect(failures.length === 0, `tag changes refused by the sites: ${failures.slice(0, 5).join('; ')}`);

  // Every key ends with its last change on both sides.
  const mismatches = async () => {
    const found: string[] = [];
    for (const key of keys) {
      const [a, b] = await Promise.all([userTagsOf(sites.A, bucket, key), userTagsOf(sites.B, bucket, key)]);
      const want = JSON.stringify(Object.fromEntries(Object.entries(last.get(key) ?? {}).sort()));
      if (JSON.stringify(a) !== want || JSON.stringify(b) !== want)
        found.push(`${key}: A ${JSON.stringify(a)}, B ${JSON.stringify(b)}, last change ${want}`);
    }
    return found;
  };
  const converged = await until(async () => (await mismatches()).length === 0, 180_000);
  run.recovery.convergedMs = converged;
  const left = converged === undefined ? await mismatches() : [];
  // For the diagnosis: the histories of every run of the failing keys' workflows (both directions).
  for (const line of left.slice(0, 3)) {
    const key = line.slice(0, line.indexOf(': A '));
    const histories = [];
    for await (const wf of s.temporal.workflow.list({ query: `CrrBucket = '${bucket}'` })) {
      if (!wf.workflowId.endsWith(`/${key}`) && !wf.workflowId.includes(encodeURIComponent(key))) continue;
      const history = await s.temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      histories.push({ workflowId: wf.workflowId, runId: wf.runId, history });
    }
    // And when each of the key's journal records reached Kafka, against its event time.
    const journal = [];
    for (const topic of journalTopicsOf(engine.config)) {
      journal.push(
        ...(await readTopic(
          s.kafka,
          topic,
          (m) => {
            const text = m.value?.toString() ?? '';
            if (!text.includes(encodeURIComponent(key).replace(/%20/g, '+')) && !text.includes(key))
              return undefined;
            const record = (
              JSON.parse(text) as { Records?: Array<{ eventName?: string; eventTime?: string }> }
            ).Records?.[0];
            return {
              topic,
              appendedAt: new Date(Number(m.timestamp)).toISOString(),
              ...record,
              raw: text.slice(0, 400),
            };
          },
          { idleMs: 2_000, timeoutMs: 30_000 },
        )),
      );
    }
    const file = path.join(engine.dir, `history-${key.replace(/[^a-z0-9-]+/gi, '_')}.json`);
    fs.writeFileSync(file, JSON.stringify({ histories, journal }, null, 1));
    run.facts[`historiesOf ${key}`] = `${histories.length} runs in ${file}`;
  }
  run.expect(
    converged !== undefined,
    `${left.length} of ${KEYS} keys without their last tags on both sides 180 s after the load: ${left.slice(0, 5).join(' | ')}`,
  );

  // No echo: a few seconds later the same tags; still one version per key on each side.
  await sleep(5_000);
  const echoes = await mismatches();
  run.expect(echoes.length === 0, `tags moved after converging (an echo): ${echoes.slice(0, 5).join(' | ')}`);
  const [a, b] = await Promise.all([versionsOf(sites.A, bucket, keys), versionsOf(sites.B, bucket, keys)]);
  const extra = keys.filter((k) => a.get(k) !== 1 || b.get(k) !== 1);
  run.facts.keysWithExtraVersions = extra.length;
  run.expect(
    extra.length === 0,
    `tag changes created versions: ${extra
      .slice(0, 5)
      .map((k) => `${k} (A ${a.get(k)}, B ${b.get(k)})`)
      .join(', ')}`,
  );
  const quiet = await until(async () => {
    for await (const wf of s.temporal.workflow.list({
      query: `CrrBucket = '${bucket}' AND ExecutionStatus = 'Running'`,
    }))
      if (wf.workflowId) return false;
    return true;
  }, 60_000);
  run.expect(
    quiet !== undefined,
    'key workflows of the bucket still running 60 s after convergence (a ping-pong?)',
  );
}

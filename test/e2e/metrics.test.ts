/**
 * Prometheus metrics of the real processes: the worker and the populator run as their own
 * OS processes (`node --import tsx workers/main.ts` and `populator/main.ts`, as in
 * test/faults/support/engine.ts), since only the entry points serve `/metrics`. The
 * populator runs alone first, so the backlog it counts in Temporal is visible; then the
 * worker replicates and both processes' counters are scraped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { localSetupOptions, runSetup } from '../../cli/commands/setup';
import { upsertProfile } from '../../config/credentials-file';
import { loadEngineConfig } from '../../config/engine-config';
import { WORKER_NODE_FLAGS } from '../../workers/node-flags';
import { EngineProcess } from '../faults/support/engine';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { freePort } from '../../stack/ports';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const sourceBucket = uniqueBucket('metrics-src');
const targetBucket = uniqueBucket('metrics-dst');
const SIZES = [1024, 20_000, 300_000, 5];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-metrics-'));
const id = path.basename(dir).replace(/[^a-zA-Z0-9-]/g, '');
const configPath = path.join(dir, 'crr.config.json');
// Quiet: the group coordinator of a new group takes a moment, which kafkajs retries and logs.
const kafka = new Kafka({
  clientId: 'metrics-test',
  brokers: stack.kafka.brokers,
  logLevel: logLevel.NOTHING,
});
let workerPort = 0;
let populatorPort = 0;
let worker: EngineProcess | undefined;
let populator: EngineProcess | undefined;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(port: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return parseMetrics(await res.text());
}

/** Sum of the series of `name` whose labels include `labels`; undefined when there is none. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}

/** Scrapes until `ok` holds; fails with the last scrape's relevant lines. */
async function scrapeUntil(
  port: number,
  what: string,
  ok: (samples: Sample[]) => boolean,
  timeoutMs = 60_000,
): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await scrape(port).catch((): Sample[] => []);
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      const crr = last.filter((s) => s.name.startsWith('crr_') && !s.name.endsWith('_bucket'));
      throw new Error(
        `${what}: not after ${timeoutMs} ms; last scrape:\n${crr.map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('\n')}` +
          `\n\nworker log:\n${worker?.grep(/./, 15).join('\n') ?? '-'}\n\npopulator log:\n${populator?.grep(/./, 15).join('\n') ?? '-'}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  const credentials = path.join(dir, 'credentials');
  upsertProfile(credentials, 'crr-source', stack.sites.source);
  upsertProfile(credentials, 'crr-target', stack.sites.target);
  process.env.AWS_SHARED_CREDENTIALS_FILE = credentials;
  workerPort = await freePort();
  populatorPort = await freePort();
  fs.writeFileSync(
    configPath,
    JSON.stringify({
      kafka: { brokers: stack.kafka.brokers, consumerGroup: `metrics-${id}` },
      temporal: { address: stack.temporal.address, taskQueuePrefix: `metrics-${id}` },
      metrics: { host: '127.0.0.1' },
      worker: { metricsPort: workerPort },
      populator: { metricsPort: populatorPort },
      policy: { initialRetryIntervalMs: 200, maxRetryIntervalMs: 2000, maxAttempts: 5 },
    }),
  );
  const setupLog: string[] = [];
  const problems = await runSetup(
    localSetupOptions({
      config: configPath,
      sourceBucket,
      targetBucket,
      sourceEndpoint: stack.sites.source.endpoint,
      targetEndpoint: stack.sites.target.endpoint,
    }),
    (line) => setupLog.push(line),
  );
  if (problems > 0) throw new Error(`replication setup failed:\n${setupLog.join('\n')}`);
  // The group starts at the journal's end: earlier files' traffic is not this test's.
  const config = loadEngineConfig(configPath, {});
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(config.kafka.journalTopic);
    await admin.setOffsets({
      groupId: config.kafka.consumerGroup,
      topic: config.kafka.journalTopic,
      partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })),
    });
  } finally {
    await admin.disconnect();
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([populator?.stop(), worker?.stop()]);
  if (!process.env.CRR_KEEP_TEST_STACK) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

function engineProcess(name: 'worker' | 'populator'): EngineProcess {
  const env: NodeJS.ProcessEnv = {
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'),
    CRR_LOG_LEVEL: 'info',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  return name === 'worker'
    ? new EngineProcess(
        'worker',
        'worker ready',
        path.join(dir, 'worker.log'),
        'workers/main.ts',
        WORKER_NODE_FLAGS,
        configPath,
        env,
      )
    : new EngineProcess(
        'populator',
        'populator consuming',
        path.join(dir, 'populator.log'),
        'populator/main.ts',
        [],
        configPath,
        env,
      );
}

test('the worker and the populator serve /metrics: journal, signals, backlog, lag, replications, bytes, latency', async () => {
  populator = engineProcess('populator');
  await populator.waitReady();
  expect(populator.grep(/metrics port .* is busy/)).toEqual([]);
  const started = Date.now() / 1000;

  // Only the populator runs: the versions wait in Temporal, counted per site.
  for (const [i, size] of SIZES.entries()) {
    await source.send(
      new PutObjectCommand({ Bucket: sourceBucket, Key: `m/${i}.bin`, Body: Buffer.alloc(size, i + 1) }),
    );
  }
  let p = await scrapeUntil(
    populatorPort,
    'journal records signalled',
    (s) => (total(s, 'crr_journal_messages_total', { outcome: 'signalled' }) ?? 0) >= SIZES.length,
  );
  expect(total(p, 'crr_signals_total', { outcome: 'accepted' })).toBeGreaterThanOrEqual(1);
  expect(total(p, 'crr_signalled_tasks_total', { site: 'target' })).toBeGreaterThanOrEqual(SIZES.length);
  expect(total(p, 'crr_journal_messages_total', { outcome: 'dead_lettered' })).toBe(0);
  expect(total(p, 'crr_journal_consumer_lag')).toBeGreaterThanOrEqual(0);
  expect(total(p, 'process_cpu_seconds_total')).toBeGreaterThan(0);
  p = await scrapeUntil(
    populatorPort,
    'the pending keys counted in Temporal',
    (s) => (total(s, 'crr_pending_keys', { site: 'target' }) ?? 0) >= SIZES.length,
    40_000,
  );
  expect(total(p, 'crr_failed_keys', { site: 'target' })).toBe(0);
  expect(total(p, 'crr_oldest_pending_age_seconds', { site: 'target' })).toBeGreaterThanOrEqual(0);
  expect(total(p, 'crr_backlog_refreshed_timestamp_seconds')).toBeGreaterThanOrEqual(started);
  expect(total(p, 'crr_backlog_refresh_failures_total', { source: 'temporal' })).toBe(0);

  // The worker replicates them.
  worker = engineProcess('worker');
  await worker.waitReady();
  expect(worker.grep(/metrics port .* is busy/)).toEqual([]);
  const w = await scrapeUntil(
    workerPort,
    'replications completed',
    (s) =>
      (total(s, 'crr_replications_completed_total', { site: 'target', operation: 'put' }) ?? 0) >=
      SIZES.length,
    90_000,
  );
  expect(
    total(w, 'crr_replications_completed_total', { site: 'target', operation: 'put', outcome: 'replicated' }),
  ).toBeGreaterThanOrEqual(SIZES.length);
  expect(total(w, 'crr_bytes_replicated_total', { site: 'target' })).toBeGreaterThanOrEqual(
    SIZES.reduce((a, b) => a + b, 0),
  );
  expect(
    total(w, 'crr_replication_latency_seconds_count', { site: 'target', operation: 'put' }),
  ).toBeGreaterThanOrEqual(SIZES.length);
  // The versions waited for the worker: their latency counts from the journal event.
  expect(total(w, 'crr_replication_latency_seconds_sum', { site: 'target' })).toBeGreaterThan(1);
  expect(
    total(w, 'crr_activity_duration_seconds_count', { site: 'target', operation: 'put' }),
  ).toBeGreaterThanOrEqual(SIZES.length);
  expect(total(w, 'crr_inflight_replications', { site: 'target' })).toBeGreaterThanOrEqual(0);
  expect(total(w, 'crr_replications_failed_total') ?? 0).toBe(0);
  expect(total(w, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  // Labels never carry a bucket, key or version.
  const labelValues = w.flatMap((s) => Object.values(s.labels));
  expect(labelValues.filter((v) => v.includes(sourceBucket) || v.includes('m/'))).toEqual([]);

  // Nothing left: the backlog goes back to 0, and so does the lag.
  await scrapeUntil(
    populatorPort,
    'the backlog back to 0',
    (s) =>
      total(s, 'crr_pending_keys', { site: 'target' }) === 0 &&
      total(s, 'crr_oldest_pending_age_seconds', { site: 'target' }) === 0 &&
      total(s, 'crr_journal_consumer_lag') === 0,
    40_000,
  );

  // A message the populator refuses: dead-lettered and counted by kind.
  const config = loadEngineConfig(configPath, {});
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({
      topic: config.kafka.journalTopic,
      messages: [{ key: `${sourceBucket}/junk`, value: '{ not json' }],
    });
  } finally {
    await producer.disconnect();
  }
  p = await scrapeUntil(
    populatorPort,
    'the refused message dead-lettered',
    (s) => (total(s, 'crr_dead_letters_total', { reason_kind: 'invalid (value)' }) ?? 0) >= 1,
  );
  expect(total(p, 'crr_journal_messages_total', { outcome: 'dead_lettered' })).toBeGreaterThanOrEqual(1);
}, 300_000);

test('a rule added with `replication setup` while the populator runs takes effect without a restart', async () => {
  // Runs after the test above: both processes are up.
  expect(populator).toBeDefined();
  const newSource = uniqueBucket('reload-src');
  const newTarget = uniqueBucket('reload-dst');
  const setupLog: string[] = [];
  const problems = await runSetup(
    localSetupOptions({
      config: configPath,
      sourceBucket: newSource,
      targetBucket: newTarget,
      sourceEndpoint: stack.sites.source.endpoint,
      targetEndpoint: stack.sites.target.endpoint,
    }),
    (line) => setupLog.push(line),
  );
  expect(problems).toBe(0);
  const ruleAddedAt = Date.now();
  // The populator checks the file every 2 s: give it that, then write.
  await new Promise((r) => setTimeout(r, 3_000));
  await source.send(new PutObjectCommand({ Bucket: newSource, Key: 'reloaded', Body: 'x' }));
  const target = s3ClientFor(stack.sites.target);
  for (;;) {
    const found = await target
      .send(new HeadObjectCommand({ Bucket: newTarget, Key: 'reloaded' }))
      .then(() => true)
      .catch(() => false);
    if (found) break;
    if (Date.now() - ruleAddedAt > 30_000) throw new Error('the new rule never took effect');
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(populator!.grep(/config reloaded: replication rules in effect/, 5).length).toBeGreaterThan(0);

  // A broken config file is refused; the running rules stay.
  const good = fs.readFileSync(configPath, 'utf8');
  fs.writeFileSync(configPath, '{ "sourceSite": ');
  await new Promise((r) => setTimeout(r, 3_000));
  expect(populator!.grep(/config change refused: the running config stays/, 5).length).toBeGreaterThan(0);
  await source.send(new PutObjectCommand({ Bucket: newSource, Key: 'still-replicated', Body: 'y' }));
  const started = Date.now();
  for (;;) {
    const found = await target
      .send(new HeadObjectCommand({ Bucket: newTarget, Key: 'still-replicated' }))
      .then(() => true)
      .catch(() => false);
    if (found) break;
    if (Date.now() - started > 30_000) throw new Error('replication stopped after a bad config file');
    await new Promise((r) => setTimeout(r, 250));
  }
  fs.writeFileSync(configPath, good);
}, 120_000);

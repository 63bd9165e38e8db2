/**
 * Config reload in the real processes: a worker and a populator run as their own OS processes
 * (as a user runs them), and the real `replication setup` command adds a rule to a new
 * destination site while they run. Both take it over without a restart: the populator
 * routes the new bucket's versions to the new site's task queue, the worker starts serving
 * that queue (respecting the site's pause state). A config file that does not validate is
 * refused with the reason and replication goes on with the running config.
 *
 * The new site "dr" is the stack's target MinIO under another site name (the stack has two
 * MinIO servers): a site is a name, an endpoint and credentials.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { connectTemporal, type TemporalClient } from '../../clients/temporal';
import { upsertProfile } from '../../config/credentials-file';
import { loadEngineConfig } from '../../config/engine-config';
import { lookupReplication } from '../../operations/replication-lookup';
import { pauseSites, resumeSites } from '../../operations/site-control';
import { WORKER_NODE_FLAGS } from '../../workers/node-flags';
import { EngineProcess } from '../faults/support/engine';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

// The SDK's notice about future Node versions, printed by this file's own S3 clients.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const target = s3ClientFor(stack.sites.target);
const root = path.resolve(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-reload-'));
const id = path.basename(dir).replace(/[^a-zA-Z0-9-]/g, '');
const configPath = path.join(dir, 'crr.config.json');
const credentials = path.join(dir, 'credentials');
const first = { source: uniqueBucket('reload-a-src'), target: uniqueBucket('reload-a-dst') };
const second = { source: uniqueBucket('reload-b-src'), target: uniqueBucket('reload-b-dst') };
const third = { source: uniqueBucket('reload-c-src'), target: uniqueBucket('reload-c-dst') };
let worker: EngineProcess;
let populator: EngineProcess;
let temporal: TemporalClient;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `replication <args>` as a user runs it: its own process, the test's config and credentials. */
function replication(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(root, 'node_modules', '.bin', 'tsx'),
      [path.join(root, 'cli', 'main.ts'), ...args, '--config', configPath],
      {
        env: {
          ...process.env,
          AWS_SHARED_CREDENTIALS_FILE: credentials,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `replication setup` of a rule from `buckets.source` (source site) to `buckets.target` at `site`. */
async function setup(buckets: { source: string; target: string }, site: string): Promise<void> {
  const result = await replication(
    'setup',
    '--source-bucket',
    buckets.source,
    '--source-profile',
    'crr-source',
    '--target-bucket',
    buckets.target,
    '--target-profile',
    'crr-target',
    '--site',
    site,
    '--source-endpoint',
    stack.sites.source.endpoint,
    '--target-endpoint',
    stack.sites.target.endpoint,
  );
  if (result.code !== 0)
    throw new Error(`replication setup failed (${result.code}):\n${result.stdout}${result.stderr}`);
}

function engineProcess(name: 'worker' | 'populator'): EngineProcess {
  const env: NodeJS.ProcessEnv = {
    AWS_SHARED_CREDENTIALS_FILE: credentials,
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

/** Both processes' last log lines, for failure messages. */
function logs(): string {
  return `\n\nworker log:\n${worker?.grep(/./, 20).join('\n') ?? '-'}\n\npopulator log:\n${populator?.grep(/./, 20).join('\n') ?? '-'}`;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${logs()}`);
    await sleep(200);
  }
}

/** Waits for a log line of `process` matching `pattern` that was not there before (`seen` lines). */
async function waitForLog(process: EngineProcess, pattern: RegExp, seen: number, timeoutMs: number) {
  return waitFor(
    `${process.name} log ${pattern}`,
    async () => {
      const lines = process.grep(pattern, 1000);
      return lines.length > seen ? lines.at(-1) : undefined;
    },
    timeoutMs,
  );
}

/** Puts an object and waits for its replica (marked REPLICA) in `bucket` of the target MinIO. */
/** The replica lands a moment before the workflow records the activity's completion: wait for it. */
async function completedAt(site: string, bucket: string, key: string, versionId: string): Promise<void> {
  await waitFor(
    `${key} COMPLETED at ${site}`,
    async () =>
      (await statusAt(site, bucket, key, versionId).catch(() => '')) === 'COMPLETED' ? true : undefined,
    10_000,
  );
}

async function replicated(
  sourceBucket: string,
  targetBucket: string,
  key: string,
  timeoutMs: number,
): Promise<{ versionId: string; replica: HeadObjectCommandOutput }> {
  const put = await source.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: `${key}!` }));
  const replica = await waitFor(
    `s3://${sourceBucket}/${key} replicated to ${targetBucket}`,
    () => target.send(new HeadObjectCommand({ Bucket: targetBucket, Key: key })).catch(() => undefined),
    timeoutMs,
  );
  expect(replica.Metadata?.['scal-replication-status']).toBe('REPLICA');
  return { versionId: put.VersionId!, replica };
}

async function statusAt(site: string, bucket: string, key: string, versionId: string): Promise<string> {
  const found = await lookupReplication(temporal.client, site, bucket, key, versionId);
  return found.versions.find((v) => v.versionId === versionId)?.status ?? found.runStatus;
}

const readyLines = (p: EngineProcess) => p.grep(/"msg":"(worker ready|populator consuming)"/, 100).length;

beforeAll(async () => {
  upsertProfile(credentials, 'crr-source', stack.sites.source);
  upsertProfile(credentials, 'crr-target', stack.sites.target);
  fs.writeFileSync(
    configPath,
    JSON.stringify({
      kafka: { brokers: stack.kafka.brokers, consumerGroup: `reload-${id}` },
      temporal: { address: stack.temporal.address, taskQueuePrefix: `reload-${id}` },
      worker: { metricsPort: 0, sdkMetricsPort: 0, pausePollMs: 500 },
      populator: { metricsPort: 0 },
      policy: { initialRetryIntervalMs: 200, maxRetryIntervalMs: 2000, maxAttempts: 5 },
    }),
  );
  await setup(first, 'target');
  const config = loadEngineConfig(configPath, {});
  // The group starts at the journal's end: earlier files' traffic is not this test's.
  // Quiet: the group coordinator of a new group takes a moment, which kafkajs retries and logs.
  const kafka = new Kafka({
    clientId: 'reload-test',
    brokers: stack.kafka.brokers,
    logLevel: logLevel.NOTHING,
  });
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
  temporal = await connectTemporal(config);
  populator = engineProcess('populator');
  worker = engineProcess('worker');
  await Promise.all([populator.waitReady(), worker.waitReady()]);
}, 180_000);

afterAll(async () => {
  await Promise.all([populator?.stop(), worker?.stop()]);
  await temporal?.close().catch(() => undefined);
  if (!process.env.CRR_KEEP_TEST_STACK) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

test('a rule to a new site added with `replication setup` is served by the running populator and worker within seconds', async () => {
  await replicated(first.source, first.target, 'before/1', 60_000);

  const reloadsBefore = populator.grep(/config reloaded: replication rules in effect/, 1000).length;
  await setup(second, 'dr');
  const setupAt = Date.now();
  // The bound: both processes take the rule and the site over within 10 s.
  const serving = await waitForLog(worker, /new destination site: serving it/, 0, 10_000);
  expect(JSON.parse(serving)).toMatchObject({ site: 'dr', taskQueue: `reload-${id}-dr` });
  const reloaded = await waitForLog(
    populator,
    /config reloaded: replication rules in effect/,
    reloadsBefore,
    10_000,
  );
  expect(JSON.parse(reloaded)).toMatchObject({
    reloaded: expect.arrayContaining(['replication', 'sites']),
    sites: { added: ['dr'] },
  });
  expect(Date.now() - setupAt).toBeLessThan(10_000);

  const { versionId } = await replicated(second.source, second.target, 'after/1', 20_000);
  expect(Date.now() - setupAt).toBeLessThan(30_000);
  await completedAt('dr', second.source, 'after/1', versionId);
  // The first rule goes on; nothing was restarted.
  await replicated(first.source, first.target, 'after/2', 20_000);
  expect([worker.running, populator.running]).toEqual([true, true]);
  expect([readyLines(worker), readyLines(populator)]).toEqual([1, 1]);
  expect(worker.grep(/take effect at the next restart|applying the config change failed/)).toEqual([]);
}, 120_000);

test('a new site that is paused is not served until resumed', async () => {
  const config = loadEngineConfig(configPath, {});
  await pauseSites(temporal.client, config, ['dr2'], { reason: 'not ready yet' });
  await setup(third, 'dr2');
  const paused = await waitForLog(worker, /new destination site: paused, served once resumed/, 0, 10_000);
  expect(JSON.parse(paused)).toMatchObject({ site: 'dr2' });
  // The populator reloads on its own schedule: a write before it has the rule is not replicated.
  await waitFor(
    'the populator reloaded the rule to dr2',
    async () =>
      populator.grep(/config reloaded/, 1000).some((line) => line.includes(third.source)) ? true : undefined,
    10_000,
  );
  const put = await source.send(new PutObjectCommand({ Bucket: third.source, Key: 'held', Body: 'x' }));
  await waitFor(
    'the version PENDING at dr2',
    async () =>
      (await statusAt('dr2', third.source, 'held', put.VersionId!).catch(() => '')) === 'PENDING'
        ? true
        : undefined,
    20_000,
  );
  await sleep(2_000);
  await expect(target.send(new HeadObjectCommand({ Bucket: third.target, Key: 'held' }))).rejects.toThrow();

  await resumeSites(temporal.client, config, ['dr2']);
  await waitFor(
    'the replica after resume',
    () => target.send(new HeadObjectCommand({ Bucket: third.target, Key: 'held' })).catch(() => undefined),
    20_000,
  );
  await completedAt('dr2', third.source, 'held', put.VersionId!);
}, 120_000);

test('a config file that does not validate is refused with the reason; replication goes on; restart-only sections are reported', async () => {
  const good = fs.readFileSync(configPath, 'utf8');
  const broken = JSON.parse(good) as { sites: Record<string, { endpoint: string }> };
  broken.sites.dr!.endpoint = 'not a url';
  fs.writeFileSync(configPath, JSON.stringify(broken));
  for (const p of [worker, populator]) {
    const refused = await waitForLog(p, /config change refused: the running config stays/, 0, 10_000);
    expect(JSON.parse(refused).reason).toMatch(/sites\.dr\.endpoint: must be a URL/);
  }
  // The running config stays: both sites still replicate.
  await replicated(second.source, second.target, 'broken/1', 20_000);
  await replicated(first.source, first.target, 'broken/2', 20_000);

  // Back to a valid file that changes a worker setting: reported as needing a restart.
  const tuned = JSON.parse(good) as { worker: Record<string, unknown> };
  tuned.worker.partConcurrency = 2;
  fs.writeFileSync(configPath, JSON.stringify(tuned));
  const restart = await waitForLog(worker, /take effect at the next restart/, 0, 10_000);
  expect(JSON.parse(restart)).toMatchObject({ sections: ['worker'] });
  await replicated(second.source, second.target, 'tuned/1', 20_000);
  expect([readyLines(worker), readyLines(populator)]).toEqual([1, 1]);
  expect(worker.grep(/applying the config change failed|could not start/)).toEqual([]);
}, 120_000);

test('a new source site added with `replication setup --source-site` is consumed by the running populator', async () => {
  const back = { source: uniqueBucket('reload-back-src'), target: uniqueBucket('reload-back-dst') };
  const rejoins = populator.grep(/journal topics changed/, 1000).length;
  const consuming = populator.grep(/"msg":"populator consuming"/, 1000).length;
  // Bucket on the stack's target MinIO (site "target", journal topic crr-journal-target)
  // replicated to the source MinIO (site "source").
  const result = await replication(
    'setup',
    '--source-site',
    'target',
    '--source-bucket',
    back.source,
    '--source-profile',
    'crr-target',
    '--source-endpoint',
    stack.sites.target.endpoint,
    '--site',
    'source',
    '--target-bucket',
    back.target,
    '--target-profile',
    'crr-source',
    '--target-endpoint',
    stack.sites.source.endpoint,
  );
  expect(result.code).toBe(0);
  const line = await waitForLog(populator, /journal topics changed/, rejoins, 15_000);
  expect(JSON.parse(line)).toMatchObject({ to: expect.arrayContaining(['crr-journal-target']) });
  await waitForLog(populator, /"msg":"populator consuming"/, consuming, 60_000);

  const put = await target.send(new PutObjectCommand({ Bucket: back.source, Key: 'from-target', Body: 'b' }));
  const replica = await waitFor(
    `s3://${back.source}/from-target replicated to the source site`,
    () =>
      source.send(new HeadObjectCommand({ Bucket: back.target, Key: 'from-target' })).catch(() => undefined),
    60_000,
  );
  expect(replica.Metadata?.['scal-replication-status']).toBe('REPLICA');
  expect(replica.Metadata?.['scal-version-id']).toBe(put.VersionId);
  // The other rules go on, the same processes.
  await replicated(first.source, first.target, 'after-rejoin/1', 30_000);
  expect([worker.running, populator.running]).toEqual([true, true]);
  expect(populator.grep(/applying the config change failed/)).toEqual([]);
}, 150_000);

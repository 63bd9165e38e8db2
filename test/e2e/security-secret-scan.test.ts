/**
 * No secret leaks anywhere (issue 13). One run of the whole engine with every secure setting
 * at once: two MinIO sites over HTTPS (a CA made by this test), Kafka over TLS with client
 * certificates and SASL SCRAM-SHA-512, Temporal over mutual TLS with an API key (through the
 * TLS frontend of test/support/temporal-tls-proxy.ts). The worker and the populator run as
 * their own OS processes at debug level, configured with the real `replication setup`; a
 * site with a wrong secret key makes a replication fail; an undecodable journal message is
 * dead-lettered; wrong passwords, keys and CAs produce error messages.
 *
 * Then every secret of the run (S3 secret keys, the SASL password, the API key, the private
 * keys, and the wrong ones tried) is looked for in: the worker's and the populator's logs,
 * the three Kafka topics (journal, status, dead letters), the histories of the replication
 * workflows with their payloads decoded, the error messages, the CLI's output and the config
 * file. 0 hits, as raw text and as base64.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { createKafka } from '../../clients/kafka';
import { createS3Client, createSiteClient } from '../../clients/s3';
import { connectTemporal, type TemporalClient } from '../../clients/temporal';
import { upsertProfile } from '../../config/credentials-file';
import { loadEngineConfig, parseEngineConfig, type EngineConfig } from '../../config/engine-config';
import { lookupReplication } from '../../operations/replication-lookup';
import { DEFAULT_TOPICS } from '../../shared/topics';
import type { VersionStatus } from '../../shared/replication-task';
import { WORKER_NODE_FLAGS } from '../../workers/node-flags';
import { EngineProcess } from '../faults/support/engine';
import { runReplicationCli } from '../support/cli-process';
import { makeTestPki, SecureServers, testSecret, type TestPki } from '../support/secure-stack';
import { testStack, uniqueBucket } from '../support/stack';
import { privateKeyBody } from '../support/test-certificates';

const stack = testStack();
const servers = new SecureServers('secret-scan');
const id = path.basename(servers.dir).replace(/[^a-zA-Z0-9-]/g, '');
const sourceKeys = { accessKeyId: 'crr-scan-source', secretAccessKey: testSecret('srcsecret') };
const targetKeys = { accessKeyId: 'crr-scan-target', secretAccessKey: testSecret('dstsecret') };
const badKeys = { accessKeyId: 'crr-scan-target', secretAccessKey: testSecret('badsecret') };
const saslUser = { name: 'crr-engine', password: testSecret('saslpw') };
const wrongSaslPassword = testSecret('wrongsasl');
const apiKey = testSecret('apikey');
const wrongApiKey = testSecret('wrongapikey');
const sourceBucket = uniqueBucket('scan-src');
const targetBucket = uniqueBucket('scan-dst');
const badBucket = uniqueBucket('scan-bad');
const configPath = path.join(servers.dir, 'crr.config.json');
const credentialsFile = path.join(servers.dir, 'credentials');

let pki: TestPki;
let config: EngineConfig;
let plainBrokers: string[];
let source: S3Client;
let temporal: TemporalClient;
let worker: EngineProcess;
let populator: EngineProcess;
/** Every text the run produced that a user, an operator or a log pipeline can see, by where it came from. */
const corpus: Array<{ where: string; text: string }> = [];
/** Every secret of the run, by what it is (the label is what a failure prints, never the value). */
const secrets: Array<{ label: string; value: string }> = [];

function writeSecret(name: string, value: string): string {
  const file = path.join(servers.dir, name);
  fs.writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return file;
}

async function cli(...args: string[]): Promise<string> {
  const result = await runReplicationCli(configPath, args, 120_000);
  const text = `$ replication ${args.join(' ')} (exit ${result.code})\n${result.stdout}${result.stderr}`;
  corpus.push({ where: `CLI replication ${args[0]}`, text });
  return text;
}

beforeAll(async () => {
  pki = makeTestPki(servers.dir);
  const kafka = await servers.secureKafka(pki, [saslUser]);
  plainBrokers = kafka.plainBrokers;
  const sourceSite = await servers.httpsSite(pki, 'scan-source', sourceKeys, {
    brokers: plainBrokers,
    topic: DEFAULT_TOPICS.journal,
  });
  const targetSite = await servers.httpsSite(pki, 'scan-target', targetKeys);
  const proxy = await servers.temporalFrontend(pki, stack.temporal.address, () => [apiKey]);
  const kafkaClient = pki.client('crr-kafka-client');
  const temporalClient = pki.client('crr-temporal-client');
  for (const [label, file] of [
    ['Kafka client private key', kafkaClient.keyFile],
    ['Temporal client private key', temporalClient.keyFile],
    ['MinIO source private key', path.join(servers.dir, 'scan-source-certs', 'private.key')],
    ['MinIO target private key', path.join(servers.dir, 'scan-target-certs', 'private.key')],
    ['Kafka broker private key', path.join(pki.dir, 'kafka-broker.key')],
    ['Temporal frontend private key', path.join(pki.dir, 'temporal-frontend.key')],
  ] as const) {
    const body = privateKeyBody(file);
    secrets.push({ label, value: body });
    body
      .match(/.{1,64}/g)!
      .forEach((line, i) => secrets.push({ label: `${label} (line ${i + 1})`, value: line }));
  }
  secrets.push(
    { label: 'source S3 secret key', value: sourceKeys.secretAccessKey },
    { label: 'target S3 secret key', value: targetKeys.secretAccessKey },
    { label: 'wrong S3 secret key of site "bad"', value: badKeys.secretAccessKey },
    { label: 'Kafka SASL password', value: saslUser.password },
    { label: 'wrong Kafka SASL password', value: wrongSaslPassword },
    { label: 'Temporal API key', value: apiKey },
    { label: 'wrong Temporal API key', value: wrongApiKey },
    { label: 'Kafka broker key store password', value: kafka.storePassword },
  );

  upsertProfile(credentialsFile, 'crr-source', sourceKeys);
  upsertProfile(credentialsFile, 'crr-target', targetKeys);
  upsertProfile(credentialsFile, 'crr-bad', badKeys);
  process.env.AWS_SHARED_CREDENTIALS_FILE = credentialsFile;
  const ca = pki.ca.certFile;
  const site = (endpoint: string, profile: string) => ({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    profile,
    caFile: ca,
  });
  fs.writeFileSync(
    configPath,
    JSON.stringify({
      sourceSite: 'source',
      sites: {
        source: site(sourceSite.endpoint, 'crr-source'),
        target: site(targetSite.endpoint, 'crr-target'),
      },
      kafka: {
        brokers: kafka.secureBrokers,
        consumerGroup: `scan-${id}`,
        tls: { caFile: ca, certFile: kafkaClient.certFile, keyFile: kafkaClient.keyFile },
        sasl: {
          mechanism: 'scram-sha-512',
          username: saslUser.name,
          passwordFile: writeSecret('kafka-password', saslUser.password),
        },
      },
      temporal: {
        address: proxy.address,
        namespace: stack.temporal.namespace,
        taskQueuePrefix: `scan-${id}`,
        tls: {
          caFile: ca,
          certFile: temporalClient.certFile,
          keyFile: temporalClient.keyFile,
          serverName: 'temporal.crr.test',
        },
        apiKeyFile: writeSecret('temporal-api-key', apiKey),
      },
      policy: { maxAttempts: 2, initialRetryIntervalMs: 200, maxRetryIntervalMs: 1000 },
      worker: { metricsPort: 0, sdkMetricsPort: 0 },
      populator: { metricsPort: 0 },
    }),
  );
  const setup = await cli(
    'setup',
    '--source-bucket',
    sourceBucket,
    '--source-profile',
    'crr-source',
    '--target-bucket',
    targetBucket,
    '--target-profile',
    'crr-target',
    '--site',
    'target',
  );
  if (!/exit 0/.test(setup)) throw new Error(`replication setup failed:\n${setup}`);
  // A site whose profile holds a wrong secret key (setup would refuse it: added by hand).
  const raw = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  raw.sites.bad = site(targetSite.endpoint, 'crr-bad');
  raw.replication[sourceBucket].Rules.push({
    ID: 'to-bad',
    Priority: 99,
    Status: 'Enabled',
    Filter: { Prefix: 'bad/' },
    Destination: { Bucket: `arn:aws:s3:::${badBucket}`, StorageClass: 'bad' },
    DeleteMarkerReplication: { Status: 'Enabled' },
  });
  fs.writeFileSync(configPath, JSON.stringify(raw, null, 2));
  config = loadEngineConfig(configPath, {});

  const env: NodeJS.ProcessEnv = {
    AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
    CRR_LOG_LEVEL: 'debug',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  worker = new EngineProcess(
    'worker',
    'worker ready',
    path.join(servers.dir, 'worker.log'),
    'workers/main.ts',
    WORKER_NODE_FLAGS,
    configPath,
    env,
  );
  populator = new EngineProcess(
    'populator',
    'populator consuming',
    path.join(servers.dir, 'populator.log'),
    'populator/main.ts',
    [],
    configPath,
    env,
  );
  await Promise.all([worker.waitReady(240_000), populator.waitReady(240_000)]);
  source = createSiteClient('source', config.sites.source!);
  temporal = await connectTemporal(config);
}, 420_000);

afterAll(async () => {
  await Promise.all([worker?.stop(), populator?.stop()]);
  await temporal?.close();
  source?.destroy();
  await servers.stop();
}, 90_000);

async function waitForStatus(
  site: string,
  key: string,
  versionId: string,
  operation?: string,
): Promise<VersionStatus> {
  const deadline = Date.now() + 150_000;
  for (;;) {
    const r = await lookupReplication(temporal.client, site, sourceBucket, key, versionId).catch(
      () => undefined,
    );
    const v = r?.versions
      .filter((x) => x.versionId === versionId && (!operation || x.operation === operation))
      .at(-1);
    if (v && (v.status === 'COMPLETED' || v.status === 'FAILED')) return v;
    if (Date.now() > deadline) {
      throw new Error(
        `${key} ${versionId} at ${site}: ${v?.status ?? 'unknown'}\nworker:\n${worker.grep(/./, 15).join('\n')}\npopulator:\n${populator.grep(/./, 15).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Every message of a topic of the run's Kafka, read through the engine's TLS + SASL client. */
async function readTopic(topic: string): Promise<string[]> {
  const kafka = createKafka(config, 'cli');
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const expected = offsets.reduce((n, p) => n + (Number(p.high) - Number(p.low)), 0);
  const messages: string[] = [];
  if (expected === 0) return messages;
  const consumer = kafka.consumer({ groupId: `scan-reader-${topic}-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${topic}: ${messages.length}/${expected} messages read`)),
      60_000,
    );
    void consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.entries(message.headers ?? {})
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' ');
        messages.push(`${message.key?.toString() ?? ''} ${message.value?.toString() ?? ''} ${headers}`);
        if (messages.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return messages;
}

/**
 * A history as plain data with every byte field (payload data and metadata) decoded as UTF-8
 * text: what an operator sees in the Web UI or `temporal workflow show`.
 */
function decoded(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(decoded);
  if (value && typeof value === 'object') {
    if (typeof (value as { toNumber?: unknown }).toNumber === 'function') return String(value); // Long
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decoded(v)]));
  }
  return value;
}

/** A secret and what it looks like base64-encoded at each of the three alignments. */
function needles(value: string): string[] {
  const out = [value];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.from(`${'x'.repeat(shift)}${value}`).toString('base64');
    // Drop the characters that depend on the neighbours.
    const start = shift === 0 ? 0 : Math.ceil((shift * 4) / 3) + 1;
    const inner = encoded.slice(start, -4);
    if (inner.length >= 16) out.push(inner);
  }
  return out;
}

/** Where each secret appears (label and place only, never the value). */
function scan(places: Array<{ where: string; text: string }>): string[] {
  const hits: string[] = [];
  for (const { where, text } of places) {
    for (const { label, value } of secrets) {
      if (needles(value).some((n) => text.includes(n))) hits.push(`${label} in ${where}`);
    }
  }
  return hits;
}

describe('no secret in logs, topics, histories, errors or CLI output', () => {
  test('a replication run with every secure setting leaks none of its secrets', async () => {
    // The run: puts (with metadata and tags), a delete marker, a failure, a dead letter.
    const a = await source.send(
      new PutObjectCommand({
        Bucket: sourceBucket,
        Key: 'doc/a.txt',
        Body: 'first object',
        Metadata: { owner: 'alice' },
        Tagging: 'project=crr',
      }),
    );
    const b = await source.send(
      new PutObjectCommand({ Bucket: sourceBucket, Key: 'doc/b.bin', Body: Buffer.alloc(1024 * 1024, 7) }),
    );
    const c = await source.send(
      new PutObjectCommand({ Bucket: sourceBucket, Key: 'bad/c.txt', Body: 'to two sites' }),
    );
    const raw = new Kafka({
      clientId: 'scan-raw',
      brokers: plainBrokers,
      logLevel: logLevel.NOTHING,
    }).producer();
    await raw.connect();
    await raw.send({
      topic: DEFAULT_TOPICS.journal,
      messages: [{ key: `${sourceBucket}/junk`, value: '{not json' }],
    });
    await raw.disconnect();
    expect((await waitForStatus('target', 'doc/a.txt', a.VersionId!)).status).toBe('COMPLETED');
    const d = await source.send(new DeleteObjectCommand({ Bucket: sourceBucket, Key: 'doc/a.txt' }));
    expect((await waitForStatus('target', 'doc/b.bin', b.VersionId!)).status).toBe('COMPLETED');
    expect((await waitForStatus('target', 'bad/c.txt', c.VersionId!)).status).toBe('COMPLETED');
    const failed = await waitForStatus('bad', 'bad/c.txt', c.VersionId!);
    expect(failed.status).toBe('FAILED');
    expect(failed.reason).toMatch(/INVALID_CREDENTIALS/);
    corpus.push({ where: 'FAILED reason', text: failed.reason ?? '' });
    expect((await waitForStatus('target', 'doc/a.txt', d.VersionId!, 'delete-marker')).status).toBe(
      'COMPLETED',
    );

    // The CLI, as an operator runs it (over the same TLS, SASL and API key).
    await cli('status', `s3://${sourceBucket}/doc/a.txt`, '--json');
    await cli('status', `s3://${sourceBucket}/bad/c.txt`);
    await cli('failed');
    await cli('validate');

    // Error messages of wrong secrets and CAs.
    const wrongSasl = parseEngineConfig(
      {
        ...JSON.parse(fs.readFileSync(configPath, 'utf8')),
        kafka: {
          ...config.kafka,
          sasl: {
            ...config.kafka.sasl,
            passwordFile: writeSecret('wrong-kafka-password', wrongSaslPassword),
          },
        },
      },
      {},
    );
    const producer = createKafka(wrongSasl, 'cli').producer();
    const kafkaError = await producer.connect().then(
      () => 'connected',
      (err: unknown) => (err as Error).message,
    );
    expect(kafkaError).toMatch(/SASL SCRAM-SHA-512 authentication of user "crr-engine" refused/);
    corpus.push({ where: 'Kafka SASL error', text: kafkaError });
    const temporalError = await connectTemporal({
      temporal: { ...config.temporal, apiKeyFile: writeSecret('wrong-api-key', wrongApiKey) },
    }).then(
      async (c) => {
        await c.close();
        return 'connected';
      },
      (err: unknown) => `${(err as Error).message} ${String((err as Error).stack)}`,
    );
    expect(temporalError).toMatch(/refused the client's credentials/);
    corpus.push({ where: 'Temporal API key error', text: temporalError });
    const wrongCa = createS3Client({
      ...config.sites.target!,
      name: 'target',
      caFile: pki.wrongCa.certFile,
      credentials: targetKeys,
    });
    const s3Error = await wrongCa
      .send(new PutObjectCommand({ Bucket: targetBucket, Key: 'x', Body: 'x' }))
      .then(
        () => 'sent',
        (err: unknown) => `${(err as Error).message} ${JSON.stringify(err)}`,
      );
    wrongCa.destroy();
    expect(s3Error).toContain('TLS connection refused');
    corpus.push({ where: 'S3 TLS error', text: s3Error });

    // The three topics.
    for (const [name, topic] of Object.entries({
      journal: config.kafka.journalTopic,
      status: config.kafka.statusTopic,
      'dead letters': config.kafka.deadLetterTopic,
    })) {
      const messages = await readTopic(topic);
      expect(messages.length).toBeGreaterThan(0);
      corpus.push({ where: `Kafka topic ${topic} (${name})`, text: messages.join('\n') });
    }

    // Workflow histories, payloads decoded.
    const histories: string[] = [];
    for await (const run of temporal.client.workflow.list({ query: `CrrBucket = '${sourceBucket}'` })) {
      const history = await temporal.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      histories.push(JSON.stringify(decoded(history)));
    }
    expect(histories.length).toBeGreaterThanOrEqual(4); // (target: 3 keys) + (bad: 1 key)
    corpus.push({ where: 'workflow histories', text: histories.join('\n') });

    // The processes' logs, and the config file.
    await new Promise((r) => setTimeout(r, 1_000));
    corpus.push({ where: 'worker log', text: fs.readFileSync(worker.logFile, 'utf8') });
    corpus.push({ where: 'populator log', text: fs.readFileSync(populator.logFile, 'utf8') });
    corpus.push({ where: 'config file', text: fs.readFileSync(configPath, 'utf8') });

    // The scan reads real content: each place names the run's bucket or keys...
    const text = (where: string) => corpus.find((c) => c.where === where)?.text ?? '';
    for (const where of [
      'worker log',
      'workflow histories',
      `Kafka topic ${config.kafka.journalTopic} (journal)`,
      `Kafka topic ${config.kafka.statusTopic} (status)`,
      'CLI replication status',
    ]) {
      expect([where, text(where).includes(sourceBucket)]).toEqual([where, true]);
    }
    expect(text('populator log').includes('journal message dead-lettered')).toBe(true);
    expect(text(`Kafka topic ${config.kafka.deadLetterTopic} (dead letters)`).includes('not JSON')).toBe(
      true,
    );
    // ...and the payloads are decoded (the journal entry's key and the version id are plain text).
    // (booleans, not toContain: a failure must not print the corpus)
    expect(text('workflow histories').includes('\\"key\\":\\"doc/a.txt\\"')).toBe(true);
    expect(text('workflow histories').includes(a.VersionId!)).toBe(true);

    // The scan itself finds a secret, raw or base64-encoded at any offset.
    const planted = [
      { where: 'control (raw)', text: `... ${saslUser.password} ...` },
      { where: 'control (base64)', text: Buffer.from(`{"k":"${apiKey}"}`).toString('base64') },
    ];
    expect(scan(planted)).toEqual([
      'Kafka SASL password in control (raw)',
      'Temporal API key in control (base64)',
    ]);

    const hits = scan(corpus);
    expect(hits).toEqual([]);
    const scanned = corpus.reduce((n, c) => n + c.text.length, 0);
    process.stderr.write(
      `[secret scan] ${secrets.length} secrets (incl. key lines) in ${corpus.length} places, ${scanned} characters: 0 hits\n`,
    );
  }, 600_000);
});

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_TOPICS, JOURNAL_PARTITIONS } from '../shared/topics';
import { kafkaLibs } from './binaries';
import { ManagedProcess, waitUntilReady } from './managed-process';
import { preferredOrFreePort } from './ports';

export interface StartKafkaOptions {
  dataDir: string;
  logDir: string;
  port?: number;
  log: (line: string) => void;
  /** An extra SASL_SSL listener (the PLAINTEXT one stays, for the stack and MinIO). Default: none. */
  secure?: SecureKafkaListener;
}

/** Java key store (PKCS12 or JKS) and its password. */
export interface KafkaKeyStore {
  file: string;
  password: string;
  type?: 'PKCS12' | 'JKS';
}

/**
 * A SASL_SSL listener: TLS with the broker's key store, SASL with SCRAM-SHA-256,
 * SCRAM-SHA-512 (credentials stored in the KRaft metadata at format time) and PLAIN.
 */
export interface SecureKafkaListener {
  /** Preferred port (a free one otherwise). */
  port?: number;
  /** The broker's certificate and key. */
  keystore: KafkaKeyStore;
  /** CAs of client certificates; with `clientAuth: 'required'` clients need one (mutual TLS). */
  truststore?: KafkaKeyStore;
  clientAuth?: 'required' | 'requested' | 'none';
  /** SASL users: each gets SCRAM-SHA-256 and SCRAM-SHA-512 credentials and a PLAIN password. */
  users: Array<{ name: string; password: string }>;
}

const jaasQuote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** server.properties lines of the SASL_SSL listener. */
function secureListenerProperties(secure: SecureKafkaListener): string[] {
  const prefix = 'listener.name.sasl_ssl';
  const store = (kind: 'keystore' | 'truststore', ks: KafkaKeyStore) => [
    `${prefix}.ssl.${kind}.location=${ks.file}`,
    `${prefix}.ssl.${kind}.password=${ks.password}`,
    `${prefix}.ssl.${kind}.type=${ks.type ?? 'PKCS12'}`,
  ];
  const plainUsers = secure.users.map((u) => `user_${u.name}=${jaasQuote(u.password)}`).join(' ');
  return [
    'sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN',
    `${prefix}.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN`,
    `${prefix}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `${prefix}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `${prefix}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
    ...store('keystore', secure.keystore),
    `${prefix}.ssl.key.password=${secure.keystore.password}`,
    ...(secure.truststore ? store('truststore', secure.truststore) : []),
    `${prefix}.ssl.client.auth=${secure.clientAuth ?? 'none'}`,
  ];
}

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
`;

/** One Kafka node in KRaft mode (broker and controller), started with `java` from Maven jars. */
export async function startKafka(
  options: StartKafkaOptions,
): Promise<{ brokers: string[]; secureBrokers?: string[]; process: ManagedProcess }> {
  const libs = kafkaLibs(options.log);
  const port = await preferredOrFreePort(options.port);
  // A stable controller port keeps the formatted metadata (and so the topics) across restarts.
  const controllerPort = await preferredOrFreePort(port + 1);
  const secure = options.secure;
  const securePort = secure ? await preferredOrFreePort(secure.port) : undefined;
  const secureListener = securePort === undefined ? [] : [`SASL_SSL://127.0.0.1:${securePort}`];
  const dir = path.join(options.dataDir, 'kafka');
  const logDirs = path.join(dir, 'data');
  fs.mkdirSync(dir, { recursive: true });
  const properties = path.join(dir, 'server.properties');
  fs.writeFileSync(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=${[`PLAINTEXT://127.0.0.1:${port}`, `CONTROLLER://127.0.0.1:${controllerPort}`, ...secureListener].join(',')}`,
      `advertised.listeners=${[`PLAINTEXT://127.0.0.1:${port}`, ...secureListener].join(',')}`,
      'controller.listener.names=CONTROLLER',
      `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${secure ? ',SASL_SSL:SASL_SSL' : ''}`,
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${logDirs}`,
      'num.partitions=4',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      ...(secure ? secureListenerProperties(secure) : []),
      '',
    ].join('\n'),
  );
  const log4j = path.join(dir, 'log4j.properties');
  fs.writeFileSync(log4j, LOG4J);
  const classpath = `${libs}/*`;
  const jvm = ['-Xms256m', '-Xmx768m', `-Dlog4j.configuration=file:${log4j}`, '-cp', classpath];
  // The controller quorum address is part of the formatted metadata: re-format when it changed.
  const meta = path.join(logDirs, 'meta.properties');
  const formattedFor = path.join(dir, 'formatted-for');
  // SCRAM credentials live in the formatted metadata too: other users, another format.
  const scramUsers = secure
    ? createHash('sha256').update(JSON.stringify(secure.users)).digest('hex').slice(0, 16)
    : undefined;
  const quorum = `127.0.0.1:${port}/${controllerPort}${scramUsers ? `/scram-${scramUsers}` : ''}`;
  if (
    !fs.existsSync(meta) ||
    !fs.existsSync(formattedFor) ||
    fs.readFileSync(formattedFor, 'utf8') !== quorum
  ) {
    fs.rmSync(logDirs, { recursive: true, force: true });
    const clusterId = randomBytes(16).toString('base64url').slice(0, 22);
    execFileSync(
      'java',
      [
        ...jvm,
        'kafka.tools.StorageTool',
        'format',
        `--cluster-id=${clusterId}`,
        '-c',
        properties,
        ...(secure?.users ?? []).flatMap((u) =>
          ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((mechanism) => [
            '--add-scram',
            `${mechanism}=[name=${u.name},password=${u.password}]`,
          ]),
        ),
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    fs.writeFileSync(formattedFor, quorum);
  }
  const proc = new ManagedProcess({
    name: 'kafka',
    command: 'java',
    args: [...jvm, 'kafka.Kafka', properties],
    logFile: path.join(options.logDir, 'kafka.log'),
  });
  const brokers = [`127.0.0.1:${port}`];
  await waitForKafka(brokers, 60_000, proc);
  return {
    brokers,
    ...(securePort === undefined ? {} : { secureBrokers: [`127.0.0.1:${securePort}`] }),
    process: proc,
  };
}

function quietKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'crr-stack', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
}

export async function waitForKafka(
  brokers: string[],
  timeoutMs: number,
  proc?: ManagedProcess,
): Promise<void> {
  await waitUntilReady(
    proc,
    `Kafka at ${brokers.join(',')}`,
    async () => {
      const admin = quietKafka(brokers).admin();
      await admin.connect();
      try {
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0 && cluster.controller !== null;
      } finally {
        await admin.disconnect();
      }
    },
    timeoutMs,
  );
}

/** Creates the journal, dead-letter and status topics when missing. */
export async function ensureTopics(brokers: string[], topics = DEFAULT_TOPICS): Promise<void> {
  const admin = new Kafka({ clientId: 'crr-stack', brokers, logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [
      { topic: topics.journal, numPartitions: JOURNAL_PARTITIONS },
      { topic: topics.deadLetter, numPartitions: 1 },
      { topic: topics.status, numPartitions: 4 },
    ].filter((t) => !existing.has(t.topic));
    if (wanted.length > 0) await admin.createTopics({ topics: wanted, waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Kafka over TLS with SASL (issue 13): a broker of this test with a SASL_SSL listener (its
 * certificate from a CA made with openssl, its trust store made with the JDK's keytool,
 * client certificates required, SCRAM users stored in the KRaft metadata). The engine's
 * Kafka clients (clients/kafka.ts) produce and consume with the right credentials; a wrong
 * password, the wrong CA or a missing client certificate is refused with an error naming
 * Kafka and what to check; a password or CA file fixed in place is used by the next
 * connection, without a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../../clients/kafka';
import { kafkaStatusPublisher } from '../../clients/status-publisher';
import { parseEngineConfig, type EngineConfig } from '../../config/engine-config';
import type { StatusEvent } from '../../shared/status-event';
import { makeTestPki, SecureServers, testSecret, type TestPki } from '../support/secure-stack';
import { testStack } from '../support/stack';
import { replaceFile, type IssuedCertificate } from '../support/test-certificates';

testStack(); // the suite runs with the shared stack; this file adds its own broker
const servers = new SecureServers('kafka-sasl');
const user = { name: 'crr-engine', password: testSecret('sasl') };
const wrongPassword = testSecret('wrong');
let pki: TestPki;
let client: IssuedCertificate;
let brokers: string[];
let passwordFile: string;
let wrongPasswordFile: string;
const open: Array<{ disconnect(): Promise<void> }> = [];

beforeAll(async () => {
  pki = makeTestPki(servers.dir);
  client = pki.client('crr-engine');
  ({ secureBrokers: brokers } = await servers.secureKafka(pki, [user]));
  passwordFile = path.join(servers.dir, 'kafka-password');
  fs.writeFileSync(passwordFile, `${user.password}\n`, { mode: 0o600 });
  wrongPasswordFile = path.join(servers.dir, 'kafka-wrong-password');
  fs.writeFileSync(wrongPasswordFile, `${wrongPassword}\n`, { mode: 0o600 });
}, 180_000);

afterAll(async () => {
  await Promise.all(open.map((c) => c.disconnect().catch(() => undefined)));
  await servers.stop();
}, 60_000);

function config(
  options: {
    mechanism?: 'scram-sha-256' | 'scram-sha-512' | 'plain';
    passwordFile?: string;
    caFile?: string;
    clientCertificate?: boolean;
  } = {},
): EngineConfig {
  return parseEngineConfig(
    {
      sourceSite: 'src',
      sites: { src: { endpoint: 'http://127.0.0.1:1' } },
      kafka: {
        brokers,
        tls: {
          caFile: options.caFile ?? pki.ca.certFile,
          ...(options.clientCertificate === false
            ? {}
            : { certFile: client.certFile, keyFile: client.keyFile }),
        },
        sasl: {
          mechanism: options.mechanism ?? 'scram-sha-512',
          username: user.name,
          ...('passwordFile' in options && options.passwordFile === undefined
            ? {}
            : { passwordFile: options.passwordFile ?? passwordFile }),
        },
      },
    },
    {},
  );
}

async function connectError(kafka: Kafka): Promise<Error> {
  const producer = kafka.producer();
  open.push(producer);
  return producer.connect().then(
    () => {
      throw new Error('connected');
    },
    (err: unknown) => err as Error,
  );
}

describe('Kafka over TLS with SASL SCRAM-SHA-512 and client certificates', () => {
  test('right credentials: the engine produces (status events) and consumes through its clients', async () => {
    const cfg = config();
    const topic = `crr-sasl-${Date.now()}`;
    const producer = createKafka(cfg, 'worker').producer();
    open.push(producer);
    await producer.connect();
    const event: StatusEvent = {
      bucket: 'photos',
      key: 'cat.jpg',
      versionId: 'v1',
      operation: 'put',
      site: 'dr',
      targetBucket: 'photos-dr',
      status: 'COMPLETED',
      at: new Date().toISOString(),
    };
    await kafkaStatusPublisher(producer, topic).publish([event]);
    const consumer = createKafka(cfg, 'cli').consumer({ groupId: `sasl-${Date.now()}` });
    open.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) });
    });
    expect(JSON.parse(received)).toMatchObject({ bucket: 'photos', key: 'cat.jpg' });
  }, 90_000);

  test.each(['scram-sha-256', 'plain'] as const)('%s works too', async (mechanism) => {
    const admin = createKafka(config({ mechanism }), 'cli').admin();
    open.push(admin);
    await admin.connect();
    expect((await admin.describeCluster()).brokers.length).toBe(1);
  });

  test('the password from CRR_KAFKA_SASL_PASSWORD', async () => {
    const admin = createKafka(config({ passwordFile: undefined }), 'cli', {
      CRR_KAFKA_SASL_PASSWORD: user.password,
    }).admin();
    open.push(admin);
    await admin.connect();
  });

  test('a wrong password is refused: the error names Kafka, SASL, the user and the file, never a password', async () => {
    const err = await connectError(createKafka(config({ passwordFile: wrongPasswordFile }), 'cli'));
    expect(err.message).toMatch(
      new RegExp(
        `^Kafka at ${brokers[0]}: SASL SCRAM-SHA-512 authentication of user "crr-engine" refused \\(password from file .*kafka-wrong-password \\(kafka\\.sasl\\.passwordFile\\)\\)`,
      ),
    );
    expect(err.message).toMatch(/invalid credentials/);
    expect(err.message).not.toContain(wrongPassword);
    expect(err.message).not.toContain(user.password);
  });

  test('the wrong CA is refused, naming the CA file', async () => {
    const err = await connectError(createKafka(config({ caFile: pki.wrongCa.certFile }), 'cli'));
    expect(err.message).toContain(
      `Kafka at ${brokers[0]}: TLS connection refused (the broker certificate is not signed by a CA of kafka.tls.caFile ${pki.wrongCa.certFile})`,
    );
  }, 60_000);

  test('no client certificate: the broker refuses, and the error says what to set', async () => {
    const err = await connectError(createKafka(config({ clientCertificate: false }), 'cli'));
    expect(err.message).toMatch(
      /Kafka at .*: TLS connection refused by the broker \(the broker requires a client certificate: set kafka\.tls\.certFile and kafka\.tls\.keyFile\)/,
    );
  }, 60_000);

  test('password and CA files fixed in place: the same client connects at its next try, without a restart', async () => {
    const rotatingPassword = path.join(servers.dir, 'rotating-password');
    const rotatingCa = path.join(servers.dir, 'rotating-ca.pem');
    fs.copyFileSync(wrongPasswordFile, rotatingPassword);
    fs.copyFileSync(pki.ca.certFile, rotatingCa);
    const producer = createKafka(
      config({ passwordFile: rotatingPassword, caFile: rotatingCa }),
      'cli',
    ).producer();
    open.push(producer);
    await expect(producer.connect()).rejects.toThrow(/SASL SCRAM-SHA-512 authentication/);
    replaceFile(rotatingPassword, `${user.password}\n`);
    replaceFile(rotatingCa, fs.readFileSync(pki.wrongCa.certFile));
    await new Promise((r) => setTimeout(r, 1_100));
    await expect(producer.connect()).rejects.toThrow(/TLS connection refused/);
    replaceFile(rotatingCa, fs.readFileSync(pki.ca.certFile));
    await new Promise((r) => setTimeout(r, 1_100));
    await producer.connect();
    await producer.send({ topic: `crr-rotated-${Date.now()}`, messages: [{ value: 'after rotation' }] });
  }, 90_000);
});

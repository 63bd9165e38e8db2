/**
 * The secure servers of the security tests, next to the stack of test/global-setup.ts: a
 * certificate authority made by the test (openssl, keytool), MinIO sites served over HTTPS
 * with it, a Kafka broker with a SASL_SSL listener (SCRAM-SHA-256/512 and PLAIN users, client
 * certificates required), and a TLS frontend for Temporal (mutual TLS and API keys; the dev
 * server has no TLS). Each test file starts what it needs in its own temporary folder and
 * stops it at the end.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTopics, startKafka } from '../../stack/kafka';
import type { ManagedProcess } from '../../stack/managed-process';
import { startMinio, type S3SiteEndpoint } from '../../stack/minio';
import { DEFAULT_TOPICS } from '../../shared/topics';
import { TemporalTlsProxy } from './temporal-tls-proxy';
import {
  issueCertificate,
  javaTrustStore,
  makeCa,
  pkcs12KeyStore,
  type CertificateAuthority,
  type IssuedCertificate,
} from './test-certificates';

/** A secret unique to one run, easy to find in a scan (letters and digits only). */
export function testSecret(label: string): string {
  return `${label}${randomBytes(12).toString('hex')}`;
}

export interface TestPki {
  dir: string;
  /** The CA of every server and client certificate below. */
  ca: CertificateAuthority;
  /** A CA that signed nothing here: "the wrong CA". */
  wrongCa: CertificateAuthority;
  server(name: string, names?: string[]): IssuedCertificate;
  client(name: string): IssuedCertificate;
}

export function makeTestPki(dir: string): TestPki {
  const pkiDir = path.join(dir, 'pki');
  const ca = makeCa(pkiDir, 'crr-test-ca');
  const wrongCa = makeCa(path.join(dir, 'pki-other'), 'crr-other-ca');
  return {
    dir: pkiDir,
    ca,
    wrongCa,
    server: (name, names) => issueCertificate(ca, pkiDir, name, 'server', names),
    client: (name) => issueCertificate(ca, pkiDir, name, 'client'),
  };
}

/** Everything one test file started; `stop()` ends it all. */
export class SecureServers {
  readonly dir: string;
  readonly dataDir: string;
  readonly logDir: string;
  private readonly processes: ManagedProcess[] = [];
  private readonly proxies: TemporalTlsProxy[] = [];

  constructor(name: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `crr-${name}-`));
    this.dataDir = path.join(this.dir, 'data');
    this.logDir = path.join(this.dir, 'logs');
    fs.mkdirSync(this.dataDir, { recursive: true });
  }

  /**
   * A MinIO site over HTTPS with a certificate of `pki` (names 127.0.0.1 and localhost), its
   * own root credentials, and the journal notification target when `journal` is given.
   */
  async httpsSite(
    pki: TestPki,
    name: string,
    keys: { accessKeyId: string; secretAccessKey: string },
    journal?: { brokers: string[]; topic: string },
  ): Promise<S3SiteEndpoint> {
    const certsDir = path.join(this.dir, `${name}-certs`);
    fs.mkdirSync(certsDir, { recursive: true });
    const issued = pki.server(`minio-${name}`);
    fs.copyFileSync(issued.certFile, path.join(certsDir, 'public.crt'));
    fs.copyFileSync(issued.keyFile, path.join(certsDir, 'private.key'));
    const m = await startMinio({
      name,
      dataDir: this.dataDir,
      logDir: this.logDir,
      ...keys,
      journal,
      tls: { certsDir, ca: fs.readFileSync(pki.ca.certFile) },
      log: (line) => process.stderr.write(`[secure stack] ${line}\n`),
    });
    this.processes.push(m.process);
    return m.site;
  }

  /**
   * A Kafka broker with its usual PLAINTEXT listener (for MinIO's journal target and topic
   * creation) and a SASL_SSL listener for the engine: TLS with a certificate of `pki`, client
   * certificates of `pki` required, SCRAM and PLAIN users. The engine's topics are created.
   */
  async secureKafka(
    pki: TestPki,
    users: Array<{ name: string; password: string }>,
  ): Promise<{ plainBrokers: string[]; secureBrokers: string[]; storePassword: string }> {
    const storePassword = testSecret('store');
    const broker = pki.server('kafka-broker');
    const keystore = pkcs12KeyStore(broker, pki.ca, path.join(pki.dir, 'kafka-broker.p12'), storePassword);
    const truststore = javaTrustStore(pki.ca, path.join(pki.dir, 'kafka-truststore.p12'), storePassword);
    const k = await startKafka({
      dataDir: this.dataDir,
      logDir: this.logDir,
      log: (line) => process.stderr.write(`[secure stack] ${line}\n`),
      secure: {
        keystore: { file: keystore, password: storePassword },
        truststore: { file: truststore, password: storePassword },
        clientAuth: 'required',
        users,
      },
    });
    this.processes.push(k.process);
    await ensureTopics(k.brokers, DEFAULT_TOPICS);
    return { plainBrokers: k.brokers, secureBrokers: k.secureBrokers!, storePassword };
  }

  /** A TLS frontend (mutual TLS, API keys) in front of the stack's Temporal. */
  async temporalFrontend(
    pki: TestPki,
    upstream: string,
    acceptedApiKeys?: () => readonly string[] | undefined,
  ): Promise<TemporalTlsProxy> {
    // Named temporal.crr.test only: clients set temporal.tls.serverName (its address is 127.0.0.1).
    const issued = pki.server('temporal-frontend', ['DNS:temporal.crr.test']);
    const proxy = await TemporalTlsProxy.start({
      upstream,
      cert: fs.readFileSync(issued.certFile),
      key: fs.readFileSync(issued.keyFile),
      clientCa: fs.readFileSync(pki.ca.certFile),
      acceptedApiKeys,
    });
    this.proxies.push(proxy);
    return proxy;
  }

  async stop(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close().catch(() => undefined)));
    await Promise.all(this.processes.reverse().map((p) => p.stop()));
    if (process.env.CRR_KEEP_TEST_STACK !== '1') fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

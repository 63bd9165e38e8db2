/**
 * Secure connections, without servers: the config's TLS, SASL and API-key settings (secrets
 * never inline, verification never off, errors naming the field), the files re-read when they
 * change, and what the clients are given (Temporal's TLS config and API key, kafkajs' ssl and
 * sasl options, the S3 agent's CA bundle). Against real servers: test/e2e/security-*.test.ts.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { explainKafkaError, kafkaConfig } from '../../clients/kafka';
import { CaBundleAgent, describeTlsFailure, isTlsFailure } from '../../clients/s3-tls';
import { connectionOptions, nativeConnectionOptions, temporalTlsConfig } from '../../clients/temporal';
import { ConfigError, parseEngineConfig } from '../../config/engine-config';
import { kafkaSaslPasswordSource, secretSource, watchedFile } from '../../config/secret-files';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-security-unit-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  const old = new Date(Date.now() - 10_000);
  fs.utimesSync(p, old, old); // an old timestamp is trusted (no re-read for a possible same-tick write)
  return p;
}

/** Rewrites a file as a rotation does (a new file renamed over it), with an old timestamp. */
function rotate(p: string, content: string): void {
  fs.writeFileSync(`${p}.new`, content);
  const old = new Date(Date.now() - 5_000);
  fs.utimesSync(`${p}.new`, old, old);
  fs.renameSync(`${p}.new`, p);
}

const base = { sourceSite: 'src', sites: { src: { endpoint: 'http://127.0.0.1:9000' } } };

function problems(json: unknown): string {
  try {
    parseEngineConfig(json, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('config: secure connection settings', () => {
  test('all optional: a config without them is unchanged', () => {
    const config = parseEngineConfig(base, {});
    expect(config.kafka.tls).toBeUndefined();
    expect(config.kafka.sasl).toBeUndefined();
    expect(config.temporal.tls).toBeUndefined();
    expect(config.temporal.apiKeyFile).toBeUndefined();
  });

  test('every section is accepted with files', () => {
    const config = parseEngineConfig(
      {
        ...base,
        sites: { src: { endpoint: 'https://s3.paris.example:9000', caFile: '/etc/crr/paris-ca.pem' } },
        kafka: {
          tls: { caFile: '/etc/crr/kafka-ca.pem', certFile: '/etc/crr/c.pem', keyFile: '/etc/crr/c.key' },
          sasl: { mechanism: 'scram-sha-512', username: 'crr', passwordFile: '/etc/crr/kafka-password' },
        },
        temporal: {
          tls: {
            caFile: '/etc/crr/t-ca.pem',
            certFile: '/etc/crr/t.pem',
            keyFile: '/etc/crr/t.key',
            serverName: 't',
          },
          apiKeyFile: '/etc/crr/temporal-api-key',
        },
      },
      {},
    );
    expect(config.sites.src!.caFile).toBe('/etc/crr/paris-ca.pem');
    expect(config.kafka.sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'crr',
      passwordFile: '/etc/crr/kafka-password',
    });
    expect(config.temporal.tls?.serverName).toBe('t');
  });

  test.each([
    [
      { temporal: { apiKey: 'k' } },
      /temporal\.apiKey: secrets are never stored in the config: use temporal\.apiKeyFile/,
    ],
    [
      { kafka: { tls: {}, sasl: { mechanism: 'plain', username: 'u', password: 'p' } } },
      /kafka\.sasl\.password: secrets are never stored in the config: use kafka\.sasl\.passwordFile/,
    ],
    [
      { kafka: { tls: { key: '-----BEGIN PRIVATE KEY-----' } } },
      /kafka\.tls\.key: secrets are never stored.*keyFile/,
    ],
    [{ temporal: { tls: { key: 'x' } } }, /temporal\.tls\.key: secrets are never stored/],
  ])('an inline secret is refused, naming the field: %j', (extra, message) => {
    expect(problems({ ...base, ...extra })).toMatch(message);
  });

  test.each([
    [{ kafka: { tls: { rejectUnauthorized: false } } }, 'kafka.tls.rejectUnauthorized'],
    [{ temporal: { tls: { insecure: true } } }, 'temporal.tls.insecure'],
    [
      { sites: { src: { endpoint: 'https://s3.example', rejectUnauthorized: false } } },
      'sites.src.rejectUnauthorized',
    ],
  ])('verification cannot be turned off: %j', (extra, field) => {
    expect(problems({ ...base, ...extra })).toContain(
      `${field}: certificate verification is never turned off`,
    );
  });

  test('a client certificate needs its key, and the reverse', () => {
    expect(problems({ ...base, kafka: { tls: { certFile: '/c.pem' } } })).toMatch(
      /kafka\.tls\.keyFile: certFile and keyFile go together/,
    );
    expect(problems({ ...base, temporal: { tls: { keyFile: '/c.key' } } })).toMatch(
      /temporal\.tls\.certFile: certFile and keyFile go together/,
    );
  });

  test('PLAIN without TLS is refused (it sends the password in clear); SCRAM is not', () => {
    expect(problems({ ...base, kafka: { sasl: { mechanism: 'plain', username: 'u' } } })).toMatch(
      /kafka\.sasl\.mechanism: PLAIN sends the password in clear/,
    );
    expect(() =>
      parseEngineConfig({ ...base, kafka: { sasl: { mechanism: 'scram-sha-256', username: 'u' } } }, {}),
    ).not.toThrow();
  });

  test('unknown mechanism, unknown TLS field, CA bundle on http://', () => {
    expect(problems({ ...base, kafka: { sasl: { mechanism: 'gssapi', username: 'u' } } })).toMatch(
      /kafka\.sasl\.mechanism/,
    );
    expect(problems({ ...base, temporal: { tls: { caFiel: '/x' } } })).toMatch(
      /temporal\.tls: Unrecognized key: "caFiel"/,
    );
    expect(problems({ ...base, sites: { src: { endpoint: 'http://s3', caFile: '/ca.pem' } } })).toMatch(
      /sites\.src\.caFile: a CA bundle needs an https:\/\/ endpoint/,
    );
  });
});

describe('secret files: read again when they change', () => {
  test('a watched file is re-read after a change, at most once per interval', () => {
    const p = file('watched.pem', 'first');
    let clock = Date.now();
    const watched = watchedFile('kafka.tls.caFile', p, { now: () => clock });
    expect(watched.read().toString()).toBe('first');
    const v1 = watched.version();
    rotate(p, 'second, longer');
    expect(watched.read().toString()).toBe('first'); // within the stat interval
    clock += 1_000;
    expect(watched.read().toString()).toBe('second, longer');
    expect(watched.version()).toBe(v1 + 1);
  });

  test('a file gone for a moment keeps the last content; a file never read is an error naming field and path', () => {
    const p = file('gone.pem', 'kept');
    let clock = Date.now();
    const watched = watchedFile('sites.dr.caFile', p, { now: () => clock });
    expect(watched.read().toString()).toBe('kept');
    fs.rmSync(p);
    clock += 5_000;
    expect(watched.read().toString()).toBe('kept');
    const missing = watchedFile('temporal.tls.keyFile', path.join(dir, 'absent.key'));
    expect(() => missing.read()).toThrow(/temporal\.tls\.keyFile: cannot read .*absent\.key \(ENOENT\)/);
  });

  test('secrets: the variable, then <variable>_FILE, then the config file; trailing newline dropped', () => {
    const p = file('password', 'from-the-file\n');
    const other = file('password-2', 'from-env-file\n');
    expect(secretSource('CRR_X', 'kafka.sasl.passwordFile', p, {})!.read()).toBe('from-the-file');
    expect(secretSource('CRR_X', 'kafka.sasl.passwordFile', p, { CRR_X_FILE: other })!.read()).toBe(
      'from-env-file',
    );
    const env = secretSource('CRR_X', 'kafka.sasl.passwordFile', p, { CRR_X: 'inline', CRR_X_FILE: other })!;
    expect(env.read()).toBe('inline');
    expect(env.description).toBe('environment CRR_X');
    expect(secretSource('CRR_X', 'f', undefined, {})).toBeUndefined();
  });

  test('SASL without any password is an error naming the settings', () => {
    const config = parseEngineConfig(
      { ...base, kafka: { sasl: { mechanism: 'scram-sha-512', username: 'crr' } } },
      {},
    );
    expect(() => kafkaSaslPasswordSource(config.kafka, {})).toThrow(
      /kafka\.sasl: no password for user "crr": set kafka\.sasl\.passwordFile, CRR_KAFKA_SASL_PASSWORD_FILE or CRR_KAFKA_SASL_PASSWORD/,
    );
  });
});

describe('Temporal connection options', () => {
  const ca = file('t-ca.pem', 'CA PEM');
  const crt = file('t-client.pem', 'CLIENT CERT PEM');
  const key = file('t-client.key', 'CLIENT KEY PEM');
  const apiKey = file('t-api-key', 'api-key-1\n');
  const temporal = parseEngineConfig(
    {
      ...base,
      temporal: {
        address: 'temporal.example:7233',
        tls: { caFile: ca, certFile: crt, keyFile: key, serverName: 'frontend.temporal.example' },
        apiKeyFile: apiKey,
      },
    },
    {},
  ).temporal;

  test('the client connection carries the CA, the client certificate pair, the server name and the API key', () => {
    const options = connectionOptions(temporal, {});
    expect(options.address).toBe('temporal.example:7233');
    const tls = options.tls as {
      serverNameOverride: string;
      serverRootCACertificate: Buffer;
      clientCertPair: { crt: Buffer; key: Buffer };
    };
    expect(tls.serverNameOverride).toBe('frontend.temporal.example');
    expect(tls.serverRootCACertificate.toString()).toBe('CA PEM');
    expect(tls.clientCertPair.crt.toString()).toBe('CLIENT CERT PEM');
    expect(tls.clientCertPair.key.toString()).toBe('CLIENT KEY PEM');
    // A function: read at each call, so a rotated key file is used by the next request.
    expect(typeof options.apiKey).toBe('function');
    expect((options.apiKey as () => string)()).toBe('api-key-1');
  });

  test("the worker's native connection too (its key is a string, updated by a timer)", () => {
    const options = nativeConnectionOptions(temporal, {});
    expect(options.tls).toEqual(connectionOptions(temporal, {}).tls);
    expect(options.apiKey).toBe('api-key-1');
    expect(options.apiKeySource?.description).toContain('temporal.apiKeyFile');
  });

  test('CRR_TEMPORAL_API_KEY overrides the file; an API key alone means TLS with the system CAs', () => {
    const plain = parseEngineConfig(base, {}).temporal;
    expect(connectionOptions(plain, {}).tls).toBeUndefined();
    expect(connectionOptions(plain, {}).apiKey).toBeUndefined();
    const withKey = connectionOptions(plain, { CRR_TEMPORAL_API_KEY: 'from-env' });
    expect(withKey.tls).toEqual({});
    expect((withKey.apiKey as () => string)()).toBe('from-env');
    expect(temporalTlsConfig(plain, undefined)).toBeUndefined();
  });
});

describe('Kafka client options', () => {
  const ca = file('k-ca.pem', 'KAFKA CA 1');
  const password = file('k-password', 'sasl-password-1\n');
  const kafka = parseEngineConfig(
    {
      ...base,
      kafka: {
        brokers: ['b1:9094'],
        tls: { caFile: ca },
        sasl: { mechanism: 'scram-sha-512', username: 'crr-worker', passwordFile: password },
      },
    },
    {},
  );

  test('ssl and sasl are read at each connection: a rotated file is used by the next one', () => {
    const { options } = kafkaConfig(kafka, 'worker', {});
    const ssl = options.ssl as { ca: Buffer };
    const sasl = options.sasl as { mechanism: string; username: string; password: string };
    expect(sasl.mechanism).toBe('scram-sha-512');
    expect(sasl.username).toBe('crr-worker');
    expect(sasl.password).toBe('sasl-password-1');
    // kafkajs copies ssl into tls.connect's options with Object.assign, which calls the getters.
    expect(Object.assign({}, ssl).ca.toString()).toBe('KAFKA CA 1');
    // The password never shows when the options are printed.
    expect(JSON.stringify(options)).not.toContain('sasl-password-1');
    expect(Object.keys(sasl)).not.toContain('password');
  });

  test('plaintext without the sections', () => {
    const { options, password } = kafkaConfig(parseEngineConfig(base, {}), 'cli', {});
    expect(options.ssl).toBeUndefined();
    expect(options.sasl).toBeUndefined();
    expect(password).toBeUndefined();
  });

  test('a refused SASL login names Kafka, the brokers, the mechanism, the user and the password source, never the password', () => {
    const { password: source } = kafkaConfig(kafka, 'worker', {});
    const err = Object.assign(new Error('SASL SCRAM SHA512 authentication failed: invalid credentials'), {
      name: 'KafkaJSSASLAuthenticationError',
    });
    const explained = explainKafkaError(err, kafka.kafka, source) as Error;
    expect(explained).toBe(err);
    expect(explained.message).toMatch(
      /^Kafka at b1:9094: SASL SCRAM-SHA-512 authentication of user "crr-worker" refused \(password from file .*k-password \(kafka\.sasl\.passwordFile\)\)/,
    );
    expect(explained.message).not.toContain('sasl-password-1');
  });

  test('TLS failures say which side refused', () => {
    const untrusted = explainKafkaError(
      new Error('Connection error: self-signed certificate in certificate chain'),
      kafka.kafka,
    ) as Error;
    expect(untrusted.message).toMatch(
      /Kafka at b1:9094: TLS connection refused \(the broker certificate is not signed by a CA of kafka\.tls\.caFile/,
    );
    const refused = explainKafkaError(
      new Error('Connection error: ssl3_read_bytes:tlsv13 alert certificate required'),
      kafka.kafka,
    ) as Error;
    expect(refused.message).toMatch(/the broker requires a client certificate: set kafka\.tls\.certFile/);
  });
});

describe('S3 sites over HTTPS', () => {
  test("the agent's connections use the CA bundle as it is; a changed bundle gets a new pool", () => {
    const p = file('site-ca.pem', 'SITE CA 1');
    let clock = Date.now();
    const agent = new CaBundleAgent(watchedFile('sites.dr.caFile', p, { now: () => clock }), {});
    const name1 = agent.getName({ host: 's3.example', port: 443 });
    let given: unknown;
    // What the agent hands to tls.connect (stubbed: no network).
    const spy = jest
      .spyOn(https.Agent.prototype, 'createConnection')
      .mockImplementation((options: https.RequestOptions) => {
        given = (options as { ca?: Buffer }).ca?.toString();
        return undefined;
      });
    try {
      agent.createConnection({ host: 's3.example', port: 443 });
      expect(given).toBe('SITE CA 1');
      rotate(p, 'SITE CA 2, rotated');
      clock += 1_000;
      const name2 = agent.getName({ host: 's3.example', port: 443 });
      expect(name2).not.toBe(name1);
      agent.createConnection({ host: 's3.example', port: 443 });
      expect(given).toBe('SITE CA 2, rotated');
    } finally {
      spy.mockRestore();
      agent.destroy();
    }
  });

  test('an unreadable bundle fails the request, naming the field and the path', () => {
    const agent = new CaBundleAgent(watchedFile('sites.dr.caFile', path.join(dir, 'no-ca.pem')), {});
    let reported: Error | undefined;
    agent.createConnection({ host: 's3.example', port: 443 }, (err) => {
      reported = err ?? undefined;
    });
    expect(reported?.message).toMatch(/sites\.dr\.caFile: cannot read .*no-ca\.pem/);
  });

  test('a TLS failure names the site, the endpoint and what to check', () => {
    const err = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
      $metadata: {},
    });
    expect(isTlsFailure(err)).toBe(true);
    expect(isTlsFailure(Object.assign(new Error('Forbidden'), { $metadata: { httpStatusCode: 403 } }))).toBe(
      false,
    );
    expect(
      describeTlsFailure({ name: 'dr', endpoint: 'https://s3.oslo:9000', caFile: '/etc/crr/oslo.pem' }, err),
    ).toBe(
      'site "dr" (https://s3.oslo:9000): TLS connection refused: the server certificate is not signed by a CA of sites.dr.caFile /etc/crr/oslo.pem (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain)',
    );
    expect(describeTlsFailure({ name: 'dr', endpoint: 'https://s3.oslo:9000' }, err)).toMatch(
      /not signed by a CA the system trusts: set sites\.dr\.caFile/,
    );
  });
});

/**
 * Every Kafka client of the engine is made here, from the config's `kafka` section, with its
 * TLS (CA bundle, client certificate for mutual TLS) and SASL (SCRAM-SHA-256/512, PLAIN)
 * settings (docs/SECURITY.md). Each process names itself in the client id, so the broker's
 * logs and quotas tell the populator from the worker.
 *
 * What a running process takes over without a restart: kafkajs reads the TLS options and the
 * SASL password each time it opens a connection to a broker (the options below are getters
 * over files read again when they change), so a rotated password, CA bundle or client
 * certificate is used by the next connection (after a broker restart, a network cut, an idle
 * disconnect, or a re-authentication when the broker sets `connections.max.reauth.ms`).
 * Connections already open stay as they are.
 */
import type tls from 'node:tls';
import {
  Kafka,
  logLevel,
  type Admin,
  type AdminConfig,
  type Consumer,
  type ConsumerConfig,
  type KafkaConfig,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import type { EngineConfig } from '../config/engine-config';
import { kafkaSaslPasswordSource, tlsFiles, type SecretSource } from '../config/secret-files';

export type KafkaRole = 'populator' | 'worker' | 'cli';

type KafkaSettings = EngineConfig['kafka'];

/**
 * kafkajs' `ssl` option: passed to tls.connect at each new broker connection, so its getters
 * read the files as they are then. Undefined without `kafka.tls` (plaintext); `{}` (the
 * system's CAs) when the section names no file.
 */
export function kafkaTlsOptions(kafka: KafkaSettings): tls.ConnectionOptions | undefined {
  if (!kafka.tls) return undefined;
  const files = tlsFiles('kafka.tls', kafka.tls);
  const options: tls.ConnectionOptions = {};
  for (const [name, file] of [
    ['ca', files.ca],
    ['cert', files.cert],
    ['key', files.key],
  ] as const) {
    if (file) Object.defineProperty(options, name, { enumerable: true, get: () => file.read() });
  }
  return options;
}

/** kafkajs' `sasl` option: the password is a getter, read at each authentication. */
export function kafkaSaslOptions(
  kafka: KafkaSettings,
  env: NodeJS.ProcessEnv = process.env,
): { options: SASLOptions; password: SecretSource } | undefined {
  const password = kafkaSaslPasswordSource(kafka, env);
  if (!kafka.sasl || !password) return undefined;
  password.read(); // a missing file fails at start-up, naming the field
  const options = { mechanism: kafka.sasl.mechanism, username: kafka.sasl.username } as SASLOptions;
  Object.defineProperty(options, 'password', { enumerable: false, get: () => password.read() });
  return { options, password };
}

/** The kafkajs options of one engine process, and where its SASL password comes from. */
export function kafkaConfig(
  config: Pick<EngineConfig, 'kafka'>,
  role: KafkaRole,
  env: NodeJS.ProcessEnv = process.env,
): { options: KafkaConfig; password?: SecretSource } {
  const ssl = kafkaTlsOptions(config.kafka);
  const sasl = kafkaSaslOptions(config.kafka, env);
  return {
    options: {
      clientId: `${config.kafka.clientId}-${role}`,
      brokers: config.kafka.brokers,
      ...(ssl ? { ssl } : {}),
      ...(sasl ? { sasl: sasl.options } : {}),
      // kafkajs logs every reconnection at ERROR; the engine logs what matters itself.
      logLevel: role === 'cli' ? logLevel.NOTHING : logLevel.WARN,
    },
    password: sasl?.password,
  };
}

/** The broker's TLS alert about the client's certificate (missing, unknown CA). */
const CLIENT_CERT_REFUSED = /alert (bad certificate|certificate required|unknown ca|certificate unknown)/i;
const TLS_FAILURE =
  /certificate|self[- ]signed|unable to (verify|get)|SSL|TLS|handshake|alert|wrong version number/i;

/**
 * Rewrites a failed connect's message so that it names Kafka, the brokers and, for SASL and
 * TLS failures, the user, the mechanism and where the password or CA came from (never the
 * password). The error keeps its class and fields (kafkajs' `retriable`).
 */
export function explainKafkaError(err: unknown, kafka: KafkaSettings, password?: SecretSource): unknown {
  if (!(err instanceof Error) || err.message.startsWith('Kafka at ')) return err;
  const where = `Kafka at ${kafka.brokers.join(',')}`;
  let detail = err.message;
  if (err.name === 'KafkaJSSASLAuthenticationError' && kafka.sasl) {
    const source = password?.description ?? 'the configured source';
    detail = `SASL ${kafka.sasl.mechanism.toUpperCase()} authentication of user "${kafka.sasl.username}" refused (password from ${source}): ${err.message}`;
  } else if (kafka.tls && CLIENT_CERT_REFUSED.test(err.message)) {
    const advice = kafka.tls.certFile
      ? `kafka.tls.certFile ${kafka.tls.certFile} is not signed by a CA the broker trusts`
      : 'the broker requires a client certificate: set kafka.tls.certFile and kafka.tls.keyFile';
    detail = `TLS connection refused by the broker (${advice}): ${err.message}`;
  } else if (kafka.tls && TLS_FAILURE.test(err.message)) {
    const ca = kafka.tls.caFile ? `a CA of kafka.tls.caFile ${kafka.tls.caFile}` : 'a CA the system trusts';
    detail = `TLS connection refused (the broker certificate is not signed by ${ca}): ${err.message}`;
  } else if (!kafka.tls && /Closed connection|wrong version number/i.test(err.message)) {
    detail = `${err.message} (if the listener is TLS or SASL_SSL, set kafka.tls in the config)`;
  }
  err.message = `${where}: ${detail}`;
  return err;
}

function explainingConnect<T extends { connect(): Promise<void> }>(
  client: T,
  explain: (err: unknown) => unknown,
): T {
  const connect = client.connect.bind(client);
  client.connect = () =>
    connect().catch((err: unknown) => {
      throw explain(err);
    });
  return client;
}

/** kafkajs' client whose producers, consumers and admins fail to connect with an explained error. */
class EngineKafka extends Kafka {
  constructor(
    options: KafkaConfig,
    private readonly explain: (err: unknown) => unknown,
  ) {
    super(options);
  }
  override producer(config?: ProducerConfig): Producer {
    return explainingConnect(super.producer(config), this.explain);
  }
  override consumer(config: ConsumerConfig): Consumer {
    return explainingConnect(super.consumer(config), this.explain);
  }
  override admin(config?: AdminConfig): Admin {
    return explainingConnect(super.admin(config), this.explain);
  }
}

export function createKafka(
  config: Pick<EngineConfig, 'kafka'>,
  role: KafkaRole,
  env: NodeJS.ProcessEnv = process.env,
): Kafka {
  const { options, password } = kafkaConfig(config, role, env);
  return new EngineKafka(options, (err) => explainKafkaError(err, config.kafka, password));
}

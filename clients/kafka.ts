/**
 * Every Kafka client of the engine is made here, from the config's `kafka` section (TLS and
 * SASL, a later issue, are added in this one place). Each process names itself in the client
 * id, so the broker's logs and quotas tell the populator from the worker.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { EngineConfig } from '../config/engine-config';

export type KafkaRole = 'populator' | 'worker' | 'cli';

export function createKafka(config: Pick<EngineConfig, 'kafka'>, role: KafkaRole): Kafka {
  return new Kafka({
    clientId: `${config.kafka.clientId}-${role}`,
    brokers: config.kafka.brokers,
    // kafkajs logs every reconnection at ERROR; the engine logs what matters itself.
    logLevel: role === 'cli' ? logLevel.NOTHING : logLevel.WARN,
  });
}

/**
 * Every connection to the Temporal server is made here, from the config's `temporal`
 * section: the CLI's and the populator's clients and the worker's native connection. TLS and
 * API keys (a later issue) are added in this one place.
 */
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { EngineConfig } from '../config/engine-config';

type TemporalSettings = EngineConfig['temporal'];

export interface TemporalClient {
  client: Client;
  close(): Promise<void>;
}

function connectionOptions(temporal: TemporalSettings): ConnectionOptions {
  return { address: temporal.address, connectTimeout: 5_000 };
}

function unreachable(temporal: TemporalSettings, err: unknown): Error {
  return new Error(`Temporal at ${temporal.address} is unreachable: ${(err as Error).message}`, {
    cause: err,
  });
}

/** A client that is connected now: fails at once, naming the address, when the server is down. */
export async function connectTemporal(config: Pick<EngineConfig, 'temporal'>): Promise<TemporalClient> {
  const connection = await Connection.connect(connectionOptions(config.temporal)).catch((err: unknown) => {
    throw unreachable(config.temporal, err);
  });
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    close: () => connection.close(),
  };
}

/**
 * A client that connects on first use and reconnects after an outage: for long-running
 * processes (the populator) that must start, and keep going, while Temporal is down.
 */
export function lazyTemporalClient(config: Pick<EngineConfig, 'temporal'>): TemporalClient {
  const connection = Connection.lazy(connectionOptions(config.temporal));
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    close: () => connection.close(),
  };
}

/** The worker's connection (Rust core). */
export async function connectWorkerConnection(
  config: Pick<EngineConfig, 'temporal'>,
): Promise<NativeConnection> {
  return NativeConnection.connect({ address: config.temporal.address }).catch((err: unknown) => {
    throw unreachable(config.temporal, err);
  });
}

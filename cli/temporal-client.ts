import { Client, Connection } from '@temporalio/client';
import type { EngineConfig } from '../config/engine-config';

export async function connectTemporal(
  config: EngineConfig,
): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({
    address: config.temporal.address,
    connectTimeout: 5_000,
  }).catch((err: unknown) => {
    throw new Error(`Temporal at ${config.temporal.address} is unreachable: ${(err as Error).message}`);
  });
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    close: () => connection.close(),
  };
}

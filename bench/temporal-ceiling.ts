import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pLimit from 'p-limit';
import {
  ComponentCpuSampler,
  postgresProcess,
  temporalDevServer,
  temporalServerProcess,
} from './component-cpu';
import { touch } from './empty-workflows';
import type { BenchResult } from './report';

/**
 * Signal-with-starts `count` empty workflows (the populator's call, with no activity) and
 * measures how many complete per second: the ceiling the Temporal server itself sets.
 */
export async function measureTemporalCeiling(
  address: string,
  count: number,
  concurrency = 64,
  /** Called around the timed part only (e.g. to sample the server's CPU). */
  timed: { start(): void; stop(): void } = { start: () => undefined, stop: () => undefined },
): Promise<{ workflowsPerSecond: number; seconds: number }> {
  const taskQueue = `ceiling-${Date.now()}`;
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('./empty-workflows'),
    maxConcurrentWorkflowTaskExecutions: 32,
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const limit = pLimit(concurrency);
  const runMany = async (prefix: string, n: number) => {
    const handles = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        limit(() =>
          client.workflow.signalWithStart('emptyWorkflow', {
            taskQueue,
            workflowId: `${taskQueue}-${prefix}-${i}`,
            signal: touch,
            signalArgs: [],
          }),
        ),
      ),
    );
    await Promise.all(handles.map((h) => limit(() => h.result())));
  };
  try {
    let started = 0;
    await worker.runUntil(async () => {
      // Untimed warm-up: connections, the workflow bundle and the server's caches.
      await runMany('warmup', Math.min(200, count));
      timed.start();
      started = Date.now();
      await runMany('timed', count);
    });
    timed.stop();
    const seconds = (Date.now() - started) / 1000;
    return { workflowsPerSecond: count / seconds, seconds };
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

/**
 * The ceiling together with the server's CPU per workflow (and, under CRR_TEMPORAL=server,
 * PostgreSQL's): what one workflow costs it at best.
 */
export async function measureTemporalCeilingAndServerCpu(
  address: string,
  count: number,
  /** The stack's folder: only the servers whose command line names it are counted (not other stacks'). */
  stateDir?: string,
): Promise<BenchResult['temporalCeiling']> {
  const postgres = postgresProcess(stateDir);
  const serverCpu = new ComponentCpuSampler((argv, pid) => {
    if (postgres(argv, pid)) return 'postgres';
    if (stateDir && !argv.some((a) => a.includes(stateDir))) return undefined;
    const server = temporalDevServer(argv, pid) ?? temporalServerProcess(argv, pid);
    return server === 'temporal' ? server : undefined;
  });
  let serverSeconds = Number.NaN;
  let databaseSeconds: number | undefined;
  const ceiling = await measureTemporalCeiling(address, count, 64, {
    start: () => serverCpu.start(),
    stop: () => {
      const { components } = serverCpu.stop();
      serverSeconds = components.temporal ?? Number.NaN;
      databaseSeconds = components.postgres;
    },
  });
  return {
    ...ceiling,
    serverCpuMsPerWorkflow: (serverSeconds / count) * 1000,
    ...(databaseSeconds !== undefined ? { databaseCpuMsPerWorkflow: (databaseSeconds / count) * 1000 } : {}),
  };
}

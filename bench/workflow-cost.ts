/**
 * What the Temporal SDK spends on one key workflow in the worker, without a server, S3 or
 * Kafka: the history of a real one-version run (test/replay/histories) replayed N times in
 * this process, with the workflow code bundled as production workers bundle it, beside the
 * same code with stack traces kept (`CRR_WORKFLOW_STACK_TRACES=1`) and the code bundled
 * without preloaded modules (the SDK's default, which keeps stack traces too). Rounds
 * alternate between the three so that the machine's changing speed weighs on all alike; the
 * median is reported.
 *
 *   npm run bench:workflow [-- <workflows per round> <rounds> <history>]
 *
 * A replay also feeds the history to the SDK's core, so the absolute numbers are above what a
 * live worker's workflow thread spends; the difference between the two bundles is the point.
 */
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type BundleOptions } from '@temporalio/worker';
import { loadRecordedHistory } from '../test/replay/recorded-history';
import { bundleShippedWorkflowCode, workflowBundleOptions } from '../workers/workflow-bundle-options';
import { cpuMsSince } from './process-metrics';

const perRound = Number(process.argv[2] ?? 800);
const rounds = Number(process.argv[3] ?? 8);
const historyName = process.argv[4] ?? 'one-version';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  // tsx turns Node's source maps on; a worker (node dist/workers/main.js) runs without them, and
  // with them every promise a workflow creates costs a source-map lookup more (the SDK's hook).
  process.setSourceMapsEnabled(false);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const logger = new DefaultLogger('WARN');
  const others: Record<string, BundleOptions> = {
    'with stack traces (preloaded)': workflowBundleOptions(true),
    'SDK default (modules per workflow)': { workflowsPath: workflowBundleOptions(false).workflowsPath },
  };
  const codes = new Map<string, string>([
    [
      'as shipped (preloaded, no stacks)',
      (await bundleShippedWorkflowCode({ stackTraces: false, logger })).code,
    ],
  ]);
  for (const [name, options] of Object.entries(others))
    codes.set(name, (await bundleWorkflowCode({ ...options, logger })).code);
  const history = loadRecordedHistory(historyName);
  const samples = new Map<string, number[]>();
  // Round 0 warms both up (JIT, the SDK's lazy set-up) and is not counted.
  for (let round = 0; round <= rounds; round++) {
    for (const [name, code] of codes) {
      const before = process.cpuUsage();
      const replays = Worker.runReplayHistories(
        { workflowBundle: { code }, replayName: `workflow-cost-${round}` },
        Array.from({ length: perRound }, (_, i) => ({ workflowId: `${historyName}-${i}`, history })),
      );
      for await (const result of replays) {
        if (result.error)
          throw new Error(`${name}: replay of ${historyName} failed: ${result.error.message}`);
      }
      const used = cpuMsSince(before);
      if (round > 0) samples.set(name, [...(samples.get(name) ?? []), used / perRound]);
    }
  }
  console.log(`replay of "${historyName}", ${perRound} workflows × ${rounds} rounds, CPU-ms per workflow:`);
  for (const [name, xs] of samples)
    console.log(
      `  ${name.padEnd(38)} median ${median(xs).toFixed(2)}  min ${Math.min(...xs).toFixed(2)}  (${xs.map((x) => x.toFixed(2)).join(' ')})`,
    );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

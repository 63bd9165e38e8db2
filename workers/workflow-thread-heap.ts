import v8 from 'node:v8';
import { nodeFlagValue } from '../shared/v8-heap';

/**
 * The young generation (V8 semi-space, MiB) of the worker's workflow threads. The main thread
 * keeps `--max-semi-space-size=4` (workers/node-flags.ts) for its streaming copies; a workflow
 * thread only runs activations, whose garbage dies within one, so a young generation a quarter
 * the size serves it as well. Each Worker has one such thread (the control queue's and one per
 * destination site). Measured (`BENCH_SCALE=0.4 BENCH_ONLY=W1 BENCH_BASELINES=0 npm run bench`,
 * two runs against five, docs/BENCHMARKS.md "Worker RSS"): worker RSS before the first object
 * 178–186 → 167–168 MiB, W1 peaks 228–232 / 235–242 → 220–225 / 229–232, worker CPU per object
 * within its noise (15.6 / 13.4 and 15.1 / 12.8 against 15.6–16.9 / 14.0–15.3).
 */
export const WORKFLOW_THREAD_SEMI_SPACE_MIB = 1;

let creating = 0;

/**
 * Runs `create` (a `Worker.create`, which starts the Worker's workflow thread and waits for it)
 * with V8's `--max-semi-space-size` at `semiSpaceMiB`, then puts back what node was given
 * (0, V8's default, when nothing). V8 reads the flag when an isolate is set up, so only the
 * isolates created meanwhile take it; concurrent calls share one window.
 */
export async function withWorkflowThreadHeap<T>(
  create: () => Promise<T>,
  semiSpaceMiB: number = WORKFLOW_THREAD_SEMI_SPACE_MIB,
  setFlags: (flags: string) => void = (flags) => v8.setFlagsFromString(flags),
): Promise<T> {
  if (creating++ === 0) setFlags(`--max-semi-space-size=${semiSpaceMiB}`);
  try {
    return await create();
  } finally {
    if (--creating === 0) setFlags(`--max-semi-space-size=${mainSemiSpace()}`);
  }
}

/** The main isolate's semi-space as node was given it, in MiB; 0 is V8's default. */
function mainSemiSpace(): number {
  const given = Number(nodeFlagValue('max-semi-space-size'));
  return Number.isFinite(given) && given > 0 ? given : 0;
}

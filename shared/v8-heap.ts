import v8 from 'node:v8';

/**
 * Sets V8's `--heap-growing-percent` in this process: how far the old generation may grow over
 * what survived the last full collection before the next one (0: V8's own factor, about four
 * times on a 4 GiB heap limit). V8 reads it at every full collection, in every isolate of the
 * process, so a change takes effect at the next one (test/unit/heap-growth.test.ts checks it).
 */
export function setHeapGrowingPercent(percent: number): void {
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/**
 * Whether the process was started with its own `--heap-growing-percent` (node's arguments or
 * NODE_OPTIONS): then the operator chose, and the engine leaves the flag alone.
 */
export function heapGrowthSetByOperator(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): boolean {
  const named = (arg: string) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg);
  return execArgv.some(named) || (nodeOptions ?? '').split(/\s+/).some(named);
}

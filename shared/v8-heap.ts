import v8 from 'node:v8';
import type { Logger } from 'pino';

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
 * The value node was given for a V8 flag (`--name=value` or `--name value`, `-` and `_` alike),
 * in its arguments or NODE_OPTIONS (the arguments win); `''` for a flag given without a value,
 * undefined when not given.
 */
export function nodeFlagValue(
  name: string,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): string | undefined {
  const wanted = name.replace(/^--/, '').replace(/_/g, '-');
  const find = (args: readonly string[]) => {
    for (const [i, arg] of args.entries()) {
      const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
      if (!match || match[1]!.replace(/_/g, '-') !== wanted) continue;
      if (match[2] !== undefined) return match[2];
      const next = args[i + 1];
      return next !== undefined && !next.startsWith('-') ? next : '';
    }
    return undefined;
  };
  return find(execArgv) ?? find((nodeOptions ?? '').split(/\s+/).filter(Boolean));
}

/**
 * Whether the process was started with its own `--heap-growing-percent` (node's arguments or
 * NODE_OPTIONS): then the operator chose, and the engine leaves the flag alone.
 */
export function heapGrowthSetByOperator(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): boolean {
  return nodeFlagValue('heap-growing-percent', execArgv, nodeOptions) !== undefined;
}

/**
 * Whether the engine sets `--heap-growing-percent` itself, from the config's `setting`
 * (`percent`): not when it is 0, nor when node was given its own (the operator chose). Both
 * cases are logged, so a process says at start who sizes its heap.
 */
export function heapGrowthIsOurs(percent: number, setting: string, logger: Pick<Logger, 'info'>): boolean {
  if (percent === 0) {
    logger.info(`${setting} is 0: V8 sizes the old generation on its own`);
    return false;
  }
  if (heapGrowthSetByOperator()) {
    logger.info(`node was given --heap-growing-percent: ${setting} is not applied`);
    return false;
  }
  return true;
}

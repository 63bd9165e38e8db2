import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { loadEngineConfig, type EngineConfig } from './engine-config';

/** Where reload outcomes are reported (a pino logger fits). */
export interface ConfigReloadLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Sections a running process takes over without a restart: the rules and where they send. */
const RELOADABLE = ['replication', 'defaultDestinationSite'] as const;
/** Sections that decide connections and task queues: a change is reported, and needs a restart. */
const RESTART_NEEDED = [
  'sites',
  'sourceSite',
  'kafka',
  'temporal',
  'worker',
  'populator',
  'policy',
  'api',
] as const;

/**
 * Applies a new version of the config file to `current`, in place, so every holder of the
 * object sees it: the replication rules change at once; other sections are reported as
 * needing a restart. Returns what changed.
 */
export function applyConfigChange(
  current: EngineConfig,
  next: EngineConfig,
): { reloaded: string[]; restartNeeded: string[] } {
  const reloaded = RELOADABLE.filter((name) => !isDeepStrictEqual(current[name], next[name]));
  const restartNeeded = RESTART_NEEDED.filter((name) => !isDeepStrictEqual(current[name], next[name]));
  if (reloaded.includes('replication')) current.replication = next.replication;
  if (reloaded.includes('defaultDestinationSite'))
    current.defaultDestinationSite = next.defaultDestinationSite;
  return { reloaded: [...reloaded], restartNeeded: [...restartNeeded] };
}

/**
 * Re-reads the config file when it changes (checked every `intervalMs`), so a rule added
 * with `replication setup` takes effect in a running process. A file that does not parse or
 * validate is refused with the reason, and the running config stays.
 */
export function watchEngineConfig(
  file: string,
  current: EngineConfig,
  logger: ConfigReloadLogger,
  intervalMs = 2_000,
  env: NodeJS.ProcessEnv = process.env,
): { stop(): void } {
  const mtime = () => {
    try {
      return fs.statSync(file).mtimeMs;
    } catch {
      return undefined;
    }
  };
  let seen = mtime();
  let refused: number | undefined;
  const timer = setInterval(() => {
    const now = mtime();
    if (now === undefined || now === seen) return;
    seen = now;
    let next: EngineConfig;
    try {
      next = loadEngineConfig(file, env);
    } catch (err) {
      if (refused !== now)
        logger.error(
          { file, reason: (err as Error).message },
          'config change refused: the running config stays',
        );
      refused = now;
      return;
    }
    const { reloaded, restartNeeded } = applyConfigChange(current, next);
    if (reloaded.length > 0) {
      logger.info(
        { file, reloaded, buckets: Object.keys(current.replication) },
        'config reloaded: replication rules in effect',
      );
    }
    if (restartNeeded.length > 0) {
      logger.warn(
        { file, sections: restartNeeded },
        'config sections changed that take effect at the next restart',
      );
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

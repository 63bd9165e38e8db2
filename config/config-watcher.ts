import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { loadEngineConfig, type EngineConfig } from './engine-config';

/** Where reload outcomes are reported (a pino logger fits). */
export interface ConfigReloadLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Sections a running process takes over without a restart: the rules, where they send, and
 * the sites they name (`replication setup` adds a site and its rule in one write). Taken
 * over together, so a rule never names a site the process does not know.
 */
const RELOADABLE = ['replication', 'sources', 'defaultDestinationSite', 'sites'] as const;
/** Sections that decide connections, task queues and tuning: a change is reported, and needs a restart. */
const RESTART_NEEDED = [
  'sourceSite',
  'kafka',
  'temporal',
  'worker',
  'populator',
  'policy',
  'metrics',
  'api',
] as const;

/** Sites of the `sites` section that appeared, disappeared or whose entry changed. */
export interface SitesChange {
  added: string[];
  removed: string[];
  /** Endpoint, region, path style or credentials profile changed. */
  changed: string[];
}

export interface ConfigChange {
  /** Sections taken over by the running process. */
  reloaded: string[];
  /** Sections (or `sites.<name>`) that changed and take effect at the next restart. */
  restartNeeded: string[];
  sites: SitesChange;
}

export interface ApplyConfigOptions {
  /**
   * Sites whose S3 client this process builds once and never again: a change of their entry
   * is reported as `sites.<name>` needing a restart. Default: the source site (the populator
   * reads it, and connects to no other site). The worker builds its clients again: none.
   */
  fixedConnections?: readonly string[];
}

/** What changed in the `sites` section between two configs. */
export function diffSites(before: EngineConfig['sites'], after: EngineConfig['sites']): SitesChange {
  const names = (sites: EngineConfig['sites']) => Object.keys(sites).sort();
  return {
    added: names(after).filter((s) => !(s in before)),
    removed: names(before).filter((s) => !(s in after)),
    changed: names(after).filter((s) => s in before && !isDeepStrictEqual(before[s], after[s])),
  };
}

/**
 * Applies a new version of the config file to `current`, in place, so every holder of the
 * object sees it: the replication rules and the sites change at once; other sections are
 * reported as needing a restart. A change of `sourceSite` is not taken over at all (rules and
 * sites are relative to it): every changed section then waits for the restart. Returns what
 * changed.
 */
export function applyConfigChange(
  current: EngineConfig,
  next: EngineConfig,
  options: ApplyConfigOptions = {},
): ConfigChange {
  const changed = (name: keyof EngineConfig) => !isDeepStrictEqual(current[name], next[name]);
  const sites = diffSites(current.sites, next.sites);
  const restartNeeded: string[] = RESTART_NEEDED.filter(changed);
  if (changed('sourceSite')) {
    return {
      reloaded: [],
      restartNeeded: [...restartNeeded, ...RELOADABLE.filter(changed)],
      sites,
    };
  }
  const reloaded: string[] = RELOADABLE.filter(changed);
  const fixed = options.fixedConnections ?? [current.sourceSite];
  restartNeeded.push(...sites.changed.filter((s) => fixed.includes(s)).map((s) => `sites.${s}`));
  if (reloaded.includes('replication')) current.replication = next.replication;
  // A new source site's journal is another Kafka topic: the populator rejoins with it.
  if (reloaded.includes('sources')) current.sources = next.sources;
  if (reloaded.includes('defaultDestinationSite'))
    current.defaultDestinationSite = next.defaultDestinationSite;
  if (reloaded.includes('sites')) current.sites = next.sites;
  return { reloaded, restartNeeded, sites };
}

export interface WatchConfigOptions extends ApplyConfigOptions {
  /**
   * Called after each change was applied to `current` (one call at a time, in order), for
   * what the process builds from the config (the worker: S3 clients, per-site Workers). A
   * failure is logged.
   */
  onChange?: (change: ConfigChange) => void | Promise<void>;
}

/** What identifies a file's content without reading it; undefined when it cannot be stat'ed. */
function stampOf(file: string): string | undefined {
  try {
    const s = fs.statSync(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return undefined;
  }
}

/**
 * Re-reads the config file when it changes (checked every `intervalMs`), so a rule added
 * with `replication setup` takes effect in a running process. A file that does not parse or
 * validate is refused with the reason, and the running config stays. Meant for the config
 * the process read from `file` (the first check compares the file with it).
 */
export function watchEngineConfig(
  file: string,
  current: EngineConfig,
  logger: ConfigReloadLogger,
  intervalMs = 2_000,
  env: NodeJS.ProcessEnv = process.env,
  options: WatchConfigOptions = {},
): { stop(): void; idle(): Promise<void> } {
  // The first check reads the file whatever its stamp: a change made while the process was
  // starting (after it read the config) is not missed, and an unchanged file changes nothing.
  let seen: string | undefined;
  let refused: string | undefined;
  let handling = Promise.resolve();
  const timer = setInterval(() => {
    const now = stampOf(file);
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
    const change = applyConfigChange(current, next, options);
    const { reloaded, restartNeeded, sites } = change;
    if (reloaded.length > 0) {
      logger.info(
        {
          file,
          reloaded,
          buckets: Object.keys(current.replication),
          ...(reloaded.includes('sites') ? { sites } : {}),
        },
        'config reloaded: replication rules in effect',
      );
    }
    if (restartNeeded.length > 0) {
      logger.warn(
        { file, sections: restartNeeded },
        'config sections changed that take effect at the next restart',
      );
    }
    const { onChange } = options;
    if (onChange && reloaded.length > 0) {
      handling = handling
        .then(() => onChange(change))
        .catch((err: unknown) => {
          logger.error({ file, err: (err as Error).message }, 'applying the config change failed');
        });
    }
  }, intervalMs);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    /** Resolves once the onChange calls under way are done. */
    idle: () => handling,
  };
}

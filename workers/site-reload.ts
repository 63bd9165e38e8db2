import { isDeepStrictEqual } from 'node:util';
import {
  destinationSites,
  ruleSets,
  siteOfRule,
  type EngineConfig,
  type SiteConfig,
} from '../config/engine-config';

/** Sites some replication rule of the config sends to (enabled or not). */
export function ruleSites(config: EngineConfig): Set<string> {
  const sites = new Set<string>();
  for (const { replication } of ruleSets(config))
    for (const rule of replication.Rules) for (const site of siteOfRule(config, rule)) sites.add(site);
  return sites;
}

/** What a running worker serves and is connected to, and the config now in effect. */
export interface SiteReloadState {
  config: EngineConfig;
  /** Destination sites the worker serves (running or paused). */
  served: readonly string[];
  /** The site entries the worker's S3 clients were built from. */
  connections: ReadonlyMap<string, SiteConfig>;
  /** The worker was started with `--sites`: it serves those and no other. */
  explicitSites: boolean;
}

/** What a worker does after the config changed, so it serves what a restart would. */
export interface SiteReloadPlan {
  /** Destination sites to serve from now on (new in the config). */
  start: string[];
  /** Sites whose S3 client is built (again): the new ones, and those whose entry changed. */
  connect: string[];
  /** Served sites the config no longer lists: still served until a restart, so their queued work drains. */
  removed: string[];
  /** Served sites no replication rule sends to any more: still served (queued work drains). */
  unused: string[];
  /** Destination sites of the config this worker does not serve (started with `--sites`). */
  notServed: string[];
}

/**
 * Compares what the worker serves with the config in effect. Without `--sites` a worker
 * serves every destination site of the config (every site but the source, as at start), so
 * a site added by `replication setup` is started; sites are never stopped by a reload.
 */
export function planSiteReload(state: SiteReloadState): SiteReloadPlan {
  const { config, served, connections, explicitSites } = state;
  const destinations = destinationSites(config);
  const missing = destinations.filter((site) => !served.includes(site));
  const start = explicitSites ? [] : missing;
  const needed = [...new Set([config.sourceSite, ...served, ...start])];
  const connect = needed.filter(
    (site) => site in config.sites && !isDeepStrictEqual(connections.get(site), config.sites[site]),
  );
  const targeted = ruleSites(config);
  return {
    start,
    connect,
    removed: served.filter((site) => !(site in config.sites)),
    unused: served.filter((site) => site in config.sites && !targeted.has(site)),
    notServed: explicitSites ? missing : [],
  };
}

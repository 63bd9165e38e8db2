import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | undefined;
let processMetrics = false;

/**
 * The process's one registry: the worker's and the populator's metrics register here when
 * their code is first used, and `/metrics` (metrics/server.ts) serves it. Creating metrics
 * costs nothing but memory; nothing is served until an entry point starts the server.
 */
export function processRegistry(): Registry {
  registry ??= new Registry();
  return registry;
}

/**
 * Node's own process metrics (CPU, memory, event-loop lag, GC, handles), once per process:
 * only entry points call this, as it starts an event-loop-delay monitor.
 */
export function collectProcessMetrics(target: Registry = processRegistry()): void {
  if (processMetrics && target === registry) return;
  collectDefaultMetrics({ register: target });
  if (target === registry) processMetrics = true;
}

/**
 * One metric object per registry and kind (prom-client refuses a second metric of the same
 * name): the worker's activities and the populator ask for theirs through this.
 */
export function singletonFor<T>(cache: WeakMap<Registry, T>, target: Registry, create: () => T): T {
  let found = cache.get(target);
  if (found === undefined) {
    found = create();
    cache.set(target, found);
  }
  return found;
}

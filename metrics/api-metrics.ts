import { Counter, Histogram, type Registry } from 'prom-client';
import { processRegistry, singletonFor } from './registry';

/** The control API's own metrics: requests by route (the route pattern, never the raw URL) and status. */
export class ApiMetrics {
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly duration: Histogram<'route' | 'method'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'crr_api_requests_total',
      help: 'Control API requests, by route pattern, method and HTTP status (401: refused token)',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'crr_api_request_duration_seconds',
      help: 'Control API request duration, by route pattern and method',
      labelNames: ['route', 'method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
  }

  /** `route` is the matched pattern (`/_/crr/pause/:site`), or `unmatched`. */
  observe(route: string | undefined, method: string, status: number, seconds: number): void {
    const pattern = route ?? 'unmatched';
    this.requests.inc({ route: pattern, method, status: String(status) });
    this.duration.observe({ route: pattern, method }, seconds);
  }
}

const perRegistry = new WeakMap<Registry, ApiMetrics>();

export function apiMetrics(registry: Registry = processRegistry()): ApiMetrics {
  return singletonFor(perRegistry, registry, () => new ApiMetrics(registry));
}

import {
  siteCountersOf,
  siteRates,
  type CounterSnapshot,
  type MetricsJson,
  type SiteRates,
} from '../metrics/site-rates';

export interface WorkerMetricsSampler {
  /** The site's rates over the window; zeros (and workersReporting 0) before any read. */
  rates(site: string): SiteRates;
  stop(): void;
}

export interface SamplerOptions {
  /** The workers' `/metrics.json` addresses. */
  urls: readonly string[];
  intervalMs: number;
  windowMs: number;
  /** Longest wait for one worker. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Reads every worker's counters each interval and keeps the window's snapshots in memory
 * (a few KB per read), so the API can answer throughput and latency per site without a
 * Prometheus server. A worker that does not answer is named in the summary, and its older
 * snapshots still count.
 */
export function startWorkerMetricsSampler(options: SamplerOptions): WorkerMetricsSampler {
  const fetcher = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const history = new Map<string, CounterSnapshot[]>(options.urls.map((url) => [url, []]));
  let unreachable: string[] = [];
  let reading: Promise<void> | undefined;

  const readOne = async (url: string): Promise<boolean> => {
    try {
      const response = await fetcher(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 5_000) });
      if (!response.ok) return false;
      const snapshot = { at: now(), sites: siteCountersOf((await response.json()) as MetricsJson) };
      const snapshots = history.get(url)!;
      snapshots.push(snapshot);
      // Keep one snapshot at or before the window's start, so the window is covered whole.
      while (snapshots.length > 2 && snapshots[1]!.at <= snapshot.at - options.windowMs) snapshots.shift();
      return true;
    } catch {
      return false;
    }
  };
  const read = () => {
    if (reading) return;
    reading = Promise.all(options.urls.map(async (url) => ((await readOne(url)) ? undefined : url)))
      .then((failed) => {
        unreachable = failed.filter((url): url is string => url !== undefined);
      })
      .finally(() => {
        reading = undefined;
      });
  };
  read();
  const timer = setInterval(read, options.intervalMs);
  timer.unref();
  return {
    rates: (site) => siteRates(history, site, unreachable),
    stop: () => clearInterval(timer),
  };
}

/** Where the workers' metrics are read: `api.workerMetricsUrls`, or the local worker's port. */
export function workerMetricsUrls(config: {
  api: { workerMetricsUrls?: string[] };
  metrics: { host: string };
  worker: { metricsPort: number };
}): string[] {
  if (config.api.workerMetricsUrls) return config.api.workerMetricsUrls;
  if (config.worker.metricsPort === 0) return [];
  const host = config.metrics.host.includes(':') ? `[${config.metrics.host}]` : config.metrics.host;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return [`http://${reachable}:${config.worker.metricsPort}/metrics.json`];
}

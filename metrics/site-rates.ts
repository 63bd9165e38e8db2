import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/**
 * Per-site throughput, failures and latency over a recent window, computed from snapshots of
 * the workers' own counters (`/metrics.json`, prom-client's JSON form): the API's site
 * summaries, for operators without a Prometheus server. Pure: the sampler (api/) feeds it.
 */

/** The worker counters one site's summary is made of, as read at one instant. */
export interface SiteCounters {
  completed: number;
  replicated: number;
  failedAttempts: number;
  failedVersions: number;
  bytes: number;
  inflight: number;
  latencyCount: number;
  /** Cumulative observations per histogram bound (`le`), +Inf included. */
  latencyBuckets: Map<number, number>;
}

export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

function emptyCounters(): SiteCounters {
  return {
    completed: 0,
    replicated: 0,
    failedAttempts: 0,
    failedVersions: 0,
    bytes: 0,
    inflight: 0,
    latencyCount: 0,
    latencyBuckets: new Map(),
  };
}

/** The per-site counters in one worker's metrics. */
export function siteCountersOf(metrics: MetricsJson): Map<string, SiteCounters> {
  const sites = new Map<string, SiteCounters>();
  const of = (site: unknown) => {
    const name = String(site ?? '');
    let counters = sites.get(name);
    if (!counters) sites.set(name, (counters = emptyCounters()));
    return counters;
  };
  for (const metric of metrics) {
    for (const sample of metric.values ?? []) {
      const labels = sample.labels ?? {};
      if (labels.site === undefined) continue;
      const counters = of(labels.site);
      const value = Number(sample.value) || 0;
      switch (metric.name) {
        case 'crr_replications_completed_total':
          counters.completed += value;
          if (labels.outcome === 'replicated') counters.replicated += value;
          break;
        case 'crr_replications_failed_total':
          counters.failedAttempts += value;
          break;
        case 'crr_versions_failed_total':
          counters.failedVersions += value;
          break;
        case 'crr_bytes_replicated_total':
          counters.bytes += value;
          break;
        case 'crr_inflight_replications':
          counters.inflight += value;
          break;
        case 'crr_replication_latency_seconds': {
          const sampleName = (sample as { metricName?: string }).metricName;
          if (sampleName === 'crr_replication_latency_seconds_count') counters.latencyCount += value;
          if (sampleName === 'crr_replication_latency_seconds_bucket' && labels.le !== undefined) {
            const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
            counters.latencyBuckets.set(le, (counters.latencyBuckets.get(le) ?? 0) + value);
          }
          break;
        }
      }
    }
  }
  return sites;
}

export interface CounterSnapshot {
  /** When it was read (ms since the epoch). */
  at: number;
  sites: Map<string, SiteCounters>;
}

/** What one site did over the window, from every worker that answered. */
export interface SiteRates {
  /** The time the snapshots cover (0 until two snapshots exist). */
  windowSeconds: number;
  /** Replication activities completed (replicated, already there, or nothing to do). */
  completed: number;
  /** Of which wrote a change to the site. */
  replicated: number;
  /** Failed attempts (most are retried) and versions marked FAILED. */
  failedAttempts: number;
  failedVersions: number;
  bytes: number;
  completedPerSecond: number;
  bytesPerSecond: number;
  /** Journal event → completed, estimated from the latency histogram (seconds); null without completions. */
  latencySeconds: { p50: number | null; p90: number | null; p99: number | null };
  /** Activity attempts running now. */
  inflight: number;
  /** Worker metrics endpoints read in the window, and those that did not answer last time. */
  workersReporting: number;
  workersUnreachable: string[];
}

/**
 * The increase of a counter between two reads of one process; a process restarted in
 * between starts again from 0, so its later value is all it did since.
 */
const increase = (from: number, to: number) => (to >= from ? to - from : to);

/** The value below which `q` of the observations fall, interpolated inside its bucket. */
export function histogramQuantile(buckets: Map<number, number>, q: number): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? (bounds.length ? buckets.get(bounds[bounds.length - 1]!)! : 0);
  if (!total || total <= 0) return null;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound)!;
    if (count >= rank) {
      // Beyond the last finite bound Prometheus answers that bound too.
      if (bound === Infinity) return previousBound;
      const inBucket = count - previousCount;
      return inBucket > 0
        ? previousBound + ((bound - previousBound) * (rank - previousCount)) / inBucket
        : bound;
    }
    previousBound = bound;
    previousCount = count;
  }
  return previousBound;
}

/**
 * Rates for `site` over the window: per worker the oldest snapshot still in the window
 * against its newest, summed over workers.
 */
export function siteRates(
  history: ReadonlyMap<string, readonly CounterSnapshot[]>,
  site: string,
  unreachable: readonly string[] = [],
): SiteRates {
  const sum = emptyCounters();
  const latency = new Map<number, number>();
  let windowMs = 0;
  let reporting = 0;
  for (const snapshots of history.values()) {
    if (snapshots.length === 0) continue;
    reporting++;
    const first = snapshots[0]!;
    const last = snapshots[snapshots.length - 1]!;
    windowMs = Math.max(windowMs, last.at - first.at);
    const from = first.sites.get(site) ?? emptyCounters();
    const to = last.sites.get(site);
    if (!to) continue;
    sum.inflight += to.inflight;
    if (snapshots.length < 2) continue;
    // A restart shows as a counter going down: take everything since then.
    const restarted = to.completed < from.completed || to.latencyCount < from.latencyCount;
    const base = restarted ? emptyCounters() : from;
    sum.completed += increase(base.completed, to.completed);
    sum.replicated += increase(base.replicated, to.replicated);
    sum.failedAttempts += increase(base.failedAttempts, to.failedAttempts);
    sum.failedVersions += increase(base.failedVersions, to.failedVersions);
    sum.bytes += increase(base.bytes, to.bytes);
    for (const [le, count] of to.latencyBuckets)
      latency.set(le, (latency.get(le) ?? 0) + increase(base.latencyBuckets.get(le) ?? 0, count));
  }
  const seconds = windowMs / 1000;
  const perSecond = (n: number) => (seconds > 0 ? Math.round((n / seconds) * 1000) / 1000 : 0);
  const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
  return {
    windowSeconds: Math.round(seconds),
    completed: sum.completed,
    replicated: sum.replicated,
    failedAttempts: sum.failedAttempts,
    failedVersions: sum.failedVersions,
    bytes: sum.bytes,
    completedPerSecond: perSecond(sum.completed),
    bytesPerSecond: perSecond(sum.bytes),
    latencySeconds: {
      p50: round(histogramQuantile(latency, 0.5)),
      p90: round(histogramQuantile(latency, 0.9)),
      p99: round(histogramQuantile(latency, 0.99)),
    },
    inflight: sum.inflight,
    workersReporting: reporting,
    workersUnreachable: [...unreachable],
  };
}

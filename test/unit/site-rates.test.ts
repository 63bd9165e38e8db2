import { Registry } from 'prom-client';
import { startWorkerMetricsSampler, workerMetricsUrls } from '../../api/worker-metrics-sampler';
import { histogramQuantile, siteCountersOf, siteRates, type CounterSnapshot } from '../../metrics/site-rates';
import { WorkerMetrics } from '../../metrics/worker-metrics';

/** A worker's registry with its real metric definitions, so the names read are the ones served. */
function workerRegistry(): { registry: Registry; metrics: WorkerMetrics } {
  const registry = new Registry();
  return { registry, metrics: new WorkerMetrics(registry) };
}

async function snapshot(registry: Registry, at: number): Promise<CounterSnapshot> {
  return { at, sites: siteCountersOf(await registry.getMetricsAsJSON()) };
}

test('reads completions, bytes, failures and the latency histogram per site', async () => {
  const { registry, metrics } = workerRegistry();
  metrics.completed.inc({ site: 'dr', operation: 'put', outcome: 'replicated' }, 3);
  metrics.completed.inc({ site: 'dr', operation: 'put', outcome: 'already_replicated' }, 2);
  metrics.bytes.inc({ site: 'dr' }, 4096);
  metrics.failed.inc({ site: 'dr', operation: 'put', reason: 'TransientTimeoutError' });
  metrics.versionsFailed.inc({ site: 'eu', operation: 'put' });
  metrics.latency.observe({ site: 'dr', operation: 'put' }, 0.7);
  const sites = siteCountersOf(await registry.getMetricsAsJSON());
  expect(sites.get('dr')).toMatchObject({
    completed: 5,
    replicated: 3,
    bytes: 4096,
    failedAttempts: 1,
    latencyCount: 1,
  });
  expect(sites.get('dr')!.latencyBuckets.get(1)).toBe(1);
  expect(sites.get('dr')!.latencyBuckets.get(0.5)).toBe(0);
  expect(sites.get('eu')).toMatchObject({ failedVersions: 1, completed: 0 });
});

test('rates are the increase over the window, summed over workers; a restart counts from 0', async () => {
  const a = workerRegistry();
  const b = workerRegistry();
  a.metrics.completed.inc({ site: 'dr', operation: 'put', outcome: 'replicated' }, 100);
  a.metrics.bytes.inc({ site: 'dr' }, 1_000);
  b.metrics.completed.inc({ site: 'dr', operation: 'put', outcome: 'replicated' }, 50);
  const history = new Map<string, CounterSnapshot[]>([
    ['a', [await snapshot(a.registry, 0)]],
    ['b', [await snapshot(b.registry, 0)]],
  ]);
  a.metrics.completed.inc({ site: 'dr', operation: 'put', outcome: 'replicated' }, 20);
  a.metrics.bytes.inc({ site: 'dr' }, 2_000);
  for (let i = 0; i < 10; i++) a.metrics.latency.observe({ site: 'dr', operation: 'put' }, 1.5);
  history.get('a')!.push(await snapshot(a.registry, 10_000));
  // Worker b restarted: its counter went from 50 back to 0, then 5 more.
  const restarted = workerRegistry();
  restarted.metrics.completed.inc({ site: 'dr', operation: 'put', outcome: 'replicated' }, 5);
  history.get('b')!.push(await snapshot(restarted.registry, 10_000));
  const rates = siteRates(history, 'dr', ['http://down/metrics.json']);
  expect(rates).toMatchObject({
    windowSeconds: 10,
    completed: 25,
    replicated: 25,
    bytes: 2_000,
    completedPerSecond: 2.5,
    bytesPerSecond: 200,
    workersReporting: 2,
    workersUnreachable: ['http://down/metrics.json'],
  });
  // Every observation in (1, 2]: the quantiles fall inside that bucket.
  expect(rates.latencySeconds.p50).toBeGreaterThan(1);
  expect(rates.latencySeconds.p99).toBeLessThanOrEqual(2);
  expect(siteRates(history, 'nowhere').completed).toBe(0);
  expect(siteRates(new Map(), 'dr')).toMatchObject({ workersReporting: 0, latencySeconds: { p50: null } });
});

test('histogram quantiles interpolate inside the bucket, and stop at the last finite bound', () => {
  const buckets = new Map([
    [1, 0],
    [2, 100],
    [Infinity, 100],
  ]);
  expect(histogramQuantile(buckets, 0.5)).toBeCloseTo(1.5);
  expect(
    histogramQuantile(
      new Map([
        [1, 0],
        [Infinity, 4],
      ]),
      0.5,
    ),
  ).toBe(1);
  expect(histogramQuantile(new Map([[Infinity, 0]]), 0.5)).toBeNull();
});

test('the sampler reads each worker and names those that do not answer', async () => {
  const { registry } = workerRegistry();
  const now = 0;
  const fetcher = (async (url: string) => {
    if (url.includes('down')) throw new Error('ECONNREFUSED');
    return new Response(JSON.stringify(await registry.getMetricsAsJSON()), {
      headers: { 'content-type': 'application/json' },
    });
  }) as unknown as typeof fetch;
  const sampler = startWorkerMetricsSampler({
    urls: ['http://up/metrics.json', 'http://down/metrics.json'],
    intervalMs: 3_600_000,
    windowMs: 60_000,
    fetch: fetcher,
    now: () => now,
  });
  await new Promise((r) => setTimeout(r, 50));
  expect(sampler.rates('dr')).toMatchObject({ completed: 0, workersReporting: 1 });
  expect(sampler.rates('dr').workersUnreachable).toEqual(['http://down/metrics.json']);
  sampler.stop();
});

test('the workers are read on the local metrics port unless listed', () => {
  const base = { metrics: { host: '0.0.0.0' }, worker: { metricsPort: 9464 } };
  expect(workerMetricsUrls({ ...base, api: {} })).toEqual(['http://127.0.0.1:9464/metrics.json']);
  expect(workerMetricsUrls({ ...base, api: { workerMetricsUrls: ['http://w1:9464/metrics.json'] } })).toEqual(
    ['http://w1:9464/metrics.json'],
  );
  expect(workerMetricsUrls({ ...base, worker: { metricsPort: 0 }, api: {} })).toEqual([]);
});

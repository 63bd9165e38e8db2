import { createKafka } from '../clients/kafka';
import { createSiteClients } from '../clients/s3';
import { lazyTemporalClient } from '../clients/temporal';
import type { EngineConfig } from '../config/engine-config';
import { registerBackfillGauges } from '../metrics/backfill-metrics';
import { collectProcessMetrics, processRegistry } from '../metrics/registry';
import { listBackfills } from '../operations/backfill';
import { tokenReader } from './auth';
import { checkDependencies } from './readiness';
import { buildApiServer } from './server';
import { startWorkerMetricsSampler, workerMetricsUrls } from './worker-metrics-sampler';

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/** Starts the control API on `api.host:api.port` (loopback by default). */
export async function startApi(
  config: EngineConfig,
  options: { host?: string; port?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunningApi> {
  const token = tokenReader({ env: options.env ?? process.env, tokenFile: config.api.tokenFile });
  const temporal = lazyTemporalClient(config);
  const kafka = createKafka(config, 'cli');
  const sites = createSiteClients(config, 4);
  const sampler = startWorkerMetricsSampler({
    urls: workerMetricsUrls(config),
    intervalMs: config.api.metricsSampleSeconds * 1000,
    windowMs: config.api.metricsWindowMinutes * 60_000,
  });
  collectProcessMetrics();
  registerBackfillGauges(processRegistry(), async () =>
    (await listBackfills(temporal.client, { runningOnly: true }, 1000)).flatMap((b) =>
      b.request && b.progress
        ? [{ site: b.request.site, bucket: b.request.bucket, prefix: b.request.prefix, progress: b.progress }]
        : [],
    ),
  );
  const app = await buildApiServer({
    config,
    temporal: temporal.client,
    token,
    readiness: () => checkDependencies({ kafka, temporal: temporal.client, sites }),
    siteRates: (site) => sampler.rates(site),
    registry: processRegistry(),
  });
  const host = options.host ?? config.api.host;
  const url = await app.listen({ host, port: options.port ?? config.api.port });
  return {
    url,
    async close() {
      sampler.stop();
      await app.close();
      await temporal.close().catch(() => undefined);
      for (const s3 of sites.values()) s3.destroy();
    },
  };
}

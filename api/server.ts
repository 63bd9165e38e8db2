/**
 * The control API: what the CLI does, over HTTP/JSON, for dashboards and automation. Routes
 * follow Backbeat's (`/_/...`); every route but liveness needs `Authorization: Bearer <token>`.
 * Each route calls the same operations/ function as its CLI command.
 */
import swagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import type { EngineConfig } from '../config/engine-config';
import type { Registry } from 'prom-client';
import { apiMetrics } from '../metrics/api-metrics';
import type { SiteRates } from '../metrics/site-rates';
import { cancelBackfills, listBackfills, startBackfills } from '../operations/backfill';
import { dismissFailedKeys, listEnded, listFailed, retryFailed } from '../operations/failures';
import { lookupReplication, sitesOfBucket } from '../operations/replication-lookup';
import {
  pauseSites,
  resumeSites,
  siteStates,
  targetSites,
  UnknownSiteError,
} from '../operations/site-control';
import { siteSummaries } from '../operations/site-summary';
import { bearerMatches } from './auth';
import type { Dependency } from './readiness';

export interface ApiDependencies {
  config: EngineConfig;
  temporal: Client;
  /** The current bearer token (re-read when its file changes). */
  token: () => string;
  readiness: () => Promise<Dependency[]>;
  /** Per-site throughput and latency from the workers' counters (api/worker-metrics-sampler.ts). */
  siteRates?: (site: string) => SiteRates;
  /** Served on `/metrics` (Prometheus text): the API's request counts and the process's own. */
  registry?: Registry;
}

const LIVENESS = '/_/health/live';

const site = { type: 'string', minLength: 1, maxLength: 255 } as const;
const bucket = { type: 'string', minLength: 1, maxLength: 255 } as const;
const key = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const error = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;
const siteState = {
  type: 'object',
  properties: {
    site: { type: 'string' },
    paused: { type: 'boolean' },
    pausedAt: { type: 'string' },
    resumeAt: { type: 'string' },
    reason: { type: 'string' },
    changedAt: { type: 'string' },
  },
} as const;
const authenticated = [{ bearer: [] }];

/** The site must be a destination (404 otherwise), and a key needs its bucket (400). */
function checkKeyFilters(config: EngineConfig, body: { site?: string; bucket?: string; key?: string }): void {
  if (body.site !== undefined) targetSites(config, body.site);
  if (body.key !== undefined && body.bucket === undefined) {
    throw Object.assign(new Error('body/key needs body/bucket'), { statusCode: 400 });
  }
}

export async function buildApiServer(deps: ApiDependencies): Promise<FastifyInstance> {
  const { config, temporal } = deps;
  const app = Fastify({
    bodyLimit: config.api.bodyLimitBytes,
    logger: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'CRR control API',
        version: '1',
        description:
          'Status, failures, retries and pause/resume of S3 cross-region replication. Every route but liveness needs `Authorization: Bearer <token>`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url === LIVENESS) return;
    if (!bearerMatches(request.headers.authorization, deps.token())) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ statusCode: 401, error: 'Unauthorized', message: 'missing or wrong bearer token' });
    }
  });
  const metrics = deps.registry ? apiMetrics(deps.registry) : undefined;
  app.addHook('onResponse', async (request, reply) => {
    metrics?.observe(request.routeOptions.url, request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.setErrorHandler(async (err: Error & { statusCode?: number }, _request, reply) => {
    if (err instanceof UnknownSiteError)
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: err.message });
    const status = err.statusCode ?? 500;
    // Validation errors name the field: "body/hours must be > 0".
    return reply.code(status).send({
      statusCode: status,
      error:
        status >= 500
          ? 'Internal Server Error'
          : status === 413
            ? 'Payload Too Large'
            : status === 415
              ? 'Unsupported Media Type'
              : 'Bad Request',
      message: err.message,
    });
  });

  app.get(
    LIVENESS,
    { schema: { summary: 'the API process is up (no authentication)', tags: ['health'] } },
    async () => ({
      status: 'ok',
    }),
  );

  app.get(
    '/_/health/ready',
    {
      schema: {
        summary: 'Kafka, Temporal and every site answer; 503 names what is down',
        tags: ['health'],
        security: authenticated,
      },
    },
    async (_request, reply) => {
      const dependencies = await deps.readiness();
      const down = dependencies.filter((d) => !d.ok);
      return reply.code(down.length > 0 ? 503 : 200).send({
        status: down.length > 0 ? 'not ready' : 'ready',
        down: down.map((d) => d.name),
        dependencies,
      });
    },
  );

  app.get<{ Querystring: { site?: string; bucket?: string; limit: number; offset: number } }>(
    '/_/crr/failed',
    {
      schema: {
        summary:
          'keys with FAILED versions, with their reasons (paged); `ended` (first page) lists keys whose run was terminated or cancelled from the Temporal UI or CLI',
        tags: ['failures'],
        security: authenticated,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            site,
            bucket,
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
      },
    },
    async (request) => {
      const { site: onlySite, bucket: onlyBucket, limit, offset } = request.query;
      const filters = { site: onlySite, bucket: onlyBucket };
      const [items, ended] = await Promise.all([
        listFailed(temporal, filters, limit + 1, offset),
        // Keys ended from the Temporal UI or CLI come with the first page.
        offset === 0 ? listEnded(temporal, filters, limit) : Promise.resolve([]),
      ]);
      return {
        items: items.slice(0, limit),
        ended,
        ...(items.length > limit ? { nextOffset: offset + limit } : {}),
      };
    },
  );

  app.get<{ Querystring: { bucket: string; key: string; versionId?: string } }>(
    '/_/crr/object',
    {
      schema: {
        summary: "an object's replication status at each destination site (every version, or one)",
        tags: ['status'],
        security: authenticated,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['bucket', 'key'],
          properties: { bucket, key, versionId: { type: 'string', minLength: 1, maxLength: 1024 } },
        },
      },
    },
    async (request, reply) => {
      const { bucket: b, key: k } = request.query;
      const sites = sitesOfBucket(config, b);
      if (sites.length === 0) {
        return reply.code(404).send({
          statusCode: 404,
          error: 'Not Found',
          message: `bucket ${b} has no replication configuration`,
        });
      }
      const [replications, control] = await Promise.all([
        Promise.all(sites.map((s) => lookupReplication(temporal, s, b, k, request.query.versionId))),
        siteStates(temporal, config.temporal.taskQueuePrefix, sites),
      ]);
      return { bucket: b, key: k, sites: replications.map((r, i) => ({ ...r, control: control[i] })) };
    },
  );

  app.post<{
    Body: { site?: string; bucket?: string; key?: string; versions?: Array<{ bucket: string; key: string }> };
  }>(
    '/_/crr/retry',
    {
      schema: {
        summary: 'retry FAILED versions: of listed objects, of a key, of a bucket, of a site, or all',
        tags: ['failures'],
        security: authenticated,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            site,
            bucket,
            key,
            versions: {
              type: 'array',
              maxItems: 1000,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['bucket', 'key'],
                properties: { bucket, key, versionId: { type: 'string' }, site },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      checkKeyFilters(config, body);
      let keys = 0;
      if (body.versions) {
        // A retry resends every FAILED version of the key, in order: listing versions names keys.
        const distinct = new Map(body.versions.map((v) => [`${v.bucket}\u0000${v.key}`, v]));
        for (const v of distinct.values())
          keys += await retryFailed(temporal, { site: body.site, bucket: v.bucket, key: v.key });
      } else {
        keys = await retryFailed(temporal, { site: body.site, bucket: body.bucket, key: body.key });
      }
      return { retriedKeys: keys };
    },
  );

  app.post<{ Body: { site?: string; bucket?: string; key?: string; reason?: string } }>(
    '/_/crr/dismiss',
    {
      schema: {
        summary: 'end FAILED versions that can never succeed (recorded as dismissed, not replicated)',
        tags: ['failures'],
        security: authenticated,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { site, bucket, key, reason: { type: 'string', maxLength: 500 } },
        },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      checkKeyFilters(config, body);
      const keys = await dismissFailedKeys(
        temporal,
        { site: body.site, bucket: body.bucket, key: body.key },
        body.reason,
      );
      return { dismissedKeys: keys.length };
    },
  );

  const pauseBody = {
    type: 'object',
    additionalProperties: false,
    properties: {
      hours: { type: 'number', exclusiveMinimum: 0, maximum: 24 * 365 },
      reason: { type: 'string', maxLength: 500 },
    },
  } as const;
  const siteParam = { type: 'object', properties: { site }, required: ['site'] } as const;
  const allOrOne = (s: string) => (s === 'all' ? undefined : s);

  app.post<{ Params: { site: string }; Body: { hours?: number; reason?: string } }>(
    '/_/crr/pause/:site',
    {
      schema: {
        summary: 'pause replication to a site (`all` for every site), optionally resuming after `hours`',
        tags: ['sites'],
        security: authenticated,
        params: siteParam,
        body: pauseBody,
        response: {
          200: { type: 'object', properties: { sites: { type: 'array', items: siteState } } },
          404: error,
        },
      },
    },
    async (request) => ({
      sites: await pauseSites(
        temporal,
        config,
        targetSites(config, allOrOne(request.params.site)),
        request.body ?? {},
      ),
    }),
  );

  app.post<{ Params: { site: string } }>(
    '/_/crr/resume/:site',
    {
      schema: {
        summary: 'resume replication to a site (`all` for every site); waiting versions drain in order',
        tags: ['sites'],
        security: authenticated,
        params: siteParam,
        response: {
          200: { type: 'object', properties: { sites: { type: 'array', items: siteState } } },
          404: error,
        },
      },
    },
    async (request) => ({
      sites: await resumeSites(temporal, config, targetSites(config, allOrOne(request.params.site))),
    }),
  );

  app.get(
    '/_/crr/sites',
    {
      schema: {
        summary:
          'every destination site: paused or not, backlog and the age of its oldest key, failed keys, and over the last minutes (`metrics`) completions, failures, bytes, throughput and latency',
        tags: ['sites'],
        security: authenticated,
      },
    },
    async () => ({
      sites: await siteSummaries(
        temporal,
        config.temporal.taskQueuePrefix,
        targetSites(config),
        deps.siteRates,
      ),
    }),
  );

  app.get<{ Params: { site: string } }>(
    '/_/crr/sites/:site',
    {
      schema: {
        summary: 'one destination site',
        tags: ['sites'],
        security: authenticated,
        params: siteParam,
      },
    },
    async (request) =>
      (
        await siteSummaries(
          temporal,
          config.temporal.taskQueuePrefix,
          targetSites(config, request.params.site),
          deps.siteRates,
        )
      )[0],
  );

  const prefix = { type: 'string', maxLength: 1024 } as const;
  app.post<{
    Body: {
      bucket: string;
      sourceSite?: string;
      site?: string;
      prefix?: string;
      olderThan?: string;
      includeFailed?: boolean;
      concurrency?: number;
      objectsPerSecond?: number;
      mibPerSecond?: number;
    };
  }>(
    '/_/crr/backfill',
    {
      schema: {
        summary:
          'start a backfill of what a bucket held before its rule, per destination site (idempotent: a running one of the same scope goes on)',
        tags: ['backfill'],
        security: authenticated,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['bucket'],
          properties: {
            bucket,
            sourceSite: { ...site, description: "the bucket's site, when it is not the config's sourceSite" },
            site,
            prefix,
            olderThan: { type: 'string', format: 'date-time' },
            includeFailed: { type: 'boolean' },
            concurrency: { type: 'integer', minimum: 1, maximum: 100_000 },
            objectsPerSecond: { type: 'number', exclusiveMinimum: 0 },
            mibPerSecond: { type: 'number', exclusiveMinimum: 0 },
          },
        },
      },
    },
    async (request) => ({ backfills: await startBackfills(temporal, config, request.body) }),
  );

  app.get<{ Querystring: { bucket?: string; site?: string; running?: boolean; limit: number } }>(
    '/_/crr/backfill',
    {
      schema: {
        summary: 'backfills (running and recent, newest first) with their progress and time left',
        tags: ['backfill'],
        security: authenticated,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            bucket,
            site,
            running: { type: 'boolean' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
    },
    async (request) => ({
      items: await listBackfills(
        temporal,
        { bucket: request.query.bucket, site: request.query.site, runningOnly: request.query.running },
        request.query.limit,
      ),
    }),
  );

  app.post<{ Body: { bucket: string; site?: string; prefix?: string } }>(
    '/_/crr/backfill/cancel',
    {
      schema: {
        summary:
          'cancel running backfills of a bucket (one site, one prefix); versions already submitted still replicate',
        tags: ['backfill'],
        security: authenticated,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['bucket'],
          properties: { bucket, site, prefix },
        },
      },
    },
    async (request) => ({ cancelled: await cancelBackfills(temporal, request.body) }),
  );

  app.get('/_/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  if (deps.registry) {
    const registry = deps.registry;
    app.get(
      '/metrics',
      {
        schema: {
          summary: "the API's Prometheus metrics (requests by route and status, process)",
          tags: ['health'],
          security: authenticated,
        },
      },
      async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
    );
  }

  await app.ready();
  return app;
}

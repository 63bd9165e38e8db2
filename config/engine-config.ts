import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { formatZodIssues } from '../shared/zod-issues';
import { DEFAULT_TOPICS, siteJournalTopic } from '../shared/topics';
import {
  ReplicationConfigurationSchema,
  type ReplicationConfiguration,
  type ReplicationRule,
} from './replication-configuration';
import { selectDestinations, type ReplicationDestination } from './rule-matching';
import { bucketArn } from '../shared/s3-names';

export type { ReplicationDestination };

const MiB = 1024 * 1024;

/**
 * Secure connections (docs/SECURITY.md): certificates, keys and passwords are named by file
 * (or given in the environment), never written in the config; verification is never off.
 */
const notInline = (instead: string) =>
  z.never({ error: `secrets are never stored in the config: ${instead}` }).optional();
const neverInsecure = z
  .never({
    error:
      'certificate verification is never turned off: give the CA that signed the server certificate in caFile',
  })
  .optional();
const filePath = z.string().min(1, 'must be a file path');
const tlsFields = {
  /** PEM bundle of the CAs to trust instead of the system's (default: the system's CAs). */
  caFile: filePath.optional(),
  /** Client certificate (PEM) and its private key (PEM, PKCS#8 or PKCS#1), for mutual TLS. */
  certFile: filePath.optional(),
  keyFile: filePath.optional(),
  key: notInline('use keyFile (a PEM file)'),
  rejectUnauthorized: neverInsecure,
  insecure: neverInsecure,
};
function certWithKey(tls: { certFile?: string; keyFile?: string }, ctx: z.RefinementCtx): void {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [tls.certFile === undefined ? 'certFile' : 'keyFile'],
      message: 'certFile and keyFile go together (a client certificate and its private key)',
    });
  }
}
const KafkaTlsSchema = z.strictObject(tlsFields).superRefine(certWithKey);
const KafkaSaslSchema = z.strictObject({
  mechanism: z.enum(['scram-sha-256', 'scram-sha-512', 'plain']),
  username: z.string().min(1),
  /** File holding the password (CRR_KAFKA_SASL_PASSWORD or CRR_KAFKA_SASL_PASSWORD_FILE override it). */
  passwordFile: filePath.optional(),
  password: notInline('use kafka.sasl.passwordFile or CRR_KAFKA_SASL_PASSWORD'),
});
const TemporalTlsSchema = z
  .strictObject({
    ...tlsFields,
    /** The name the server certificate is checked against, when it is not the address's host. */
    serverName: z.string().min(1).optional(),
  })
  .superRefine(certWithKey);

const SiteSchema = z
  .object({
    endpoint: z.string().url('must be a URL like http://127.0.0.1:9000'),
    region: z.string().default('us-east-1'),
    forcePathStyle: z.boolean().default(true),
    profile: z.string().min(1).optional(),
    /** PEM bundle of the CAs that sign the site's HTTPS certificate (re-read when it changes). */
    caFile: filePath.optional(),
    /**
     * Replica writes carry If-Match / If-None-Match, so that a write delivered late (a frozen
     * site, an attempt given up) cannot add a second replica (activities/write-fence.ts).
     * Turn off only for a store that refuses conditional PUTs.
     */
    conditionalWrites: z.boolean().default(true),
    /**
     * The Kafka topic this site's bucket notifications go to, when it is a source (default:
     * `kafka.journalTopic` for `sourceSite`, `<kafka.journalTopic>-<site>` for the others).
     */
    journalTopic: z.string().min(1).optional(),
    rejectUnauthorized: neverInsecure,
    insecure: neverInsecure,
  })
  .passthrough()
  .superRefine((site, ctx) => {
    if (site.caFile !== undefined && !site.endpoint.startsWith('https://'))
      ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'a CA bundle needs an https:// endpoint' });
    for (const secret of ['accessKeyId', 'secretAccessKey', 'sessionToken']) {
      if (secret in site) {
        ctx.addIssue({
          code: 'custom',
          path: [secret],
          message:
            'secrets are never stored in the config: use "profile" (shared credentials file) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
        });
      }
    }
  });

const EngineConfigSchema = z
  .object({
    sourceSite: z.string().min(1),
    sites: z.record(z.string(), SiteSchema),
    defaultDestinationSite: z.string().optional(),
    kafka: z
      .object({
        brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']),
        clientId: z.string().default('crr'),
        journalTopic: z.string().default(DEFAULT_TOPICS.journal),
        deadLetterTopic: z.string().default(DEFAULT_TOPICS.deadLetter),
        statusTopic: z.string().default(DEFAULT_TOPICS.status),
        consumerGroup: z.string().default('crr-populator'),
        /** TLS to the brokers ({} for the system's CAs); see docs/SECURITY.md. */
        tls: KafkaTlsSchema.optional(),
        sasl: KafkaSaslSchema.optional(),
      })
      .superRefine((kafka, ctx) => {
        if (kafka.sasl?.mechanism === 'plain' && kafka.tls === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['sasl', 'mechanism'],
            message: 'PLAIN sends the password in clear: set kafka.tls too (or use scram-sha-512)',
          });
      })
      .prefault({}),
    temporal: z
      .object({
        address: z.string().default('127.0.0.1:7233'),
        namespace: z.string().default('default'),
        taskQueuePrefix: z.string().default('crr'),
        /** TLS or mutual TLS to the frontend ({} for the system's CAs); see docs/SECURITY.md. */
        tls: TemporalTlsSchema.optional(),
        /** File holding an API key (CRR_TEMPORAL_API_KEY or CRR_TEMPORAL_API_KEY_FILE override it); implies TLS. */
        apiKeyFile: filePath.optional(),
        apiKey: notInline('use temporal.apiKeyFile or CRR_TEMPORAL_API_KEY'),
      })
      .prefault({}),
    replication: z.record(z.string(), ReplicationConfigurationSchema).default({}),
    /**
     * Rules of buckets on other source sites: `{ "<site>": { "<bucket>": ReplicationConfiguration } }`
     * (two-way and many-to-one replication; `replication` holds those of `sourceSite`).
     */
    sources: z.record(z.string(), z.record(z.string(), ReplicationConfigurationSchema)).default({}),
    worker: z
      .object({
        maxConcurrentActivities: z.number().int().min(1).default(32),
        maxConcurrentWorkflowTasks: z.number().int().min(2).default(16),
        maxCachedWorkflows: z.number().int().min(0).default(1000),
        // Most workflow tasks are a new key's first task, served from the normal (non-sticky)
        // queue: the SDK's default ratio (0.2) would leave 2 of 10 pollers on it.
        workflowTaskPolls: z.number().int().min(2).optional(),
        nonStickyToStickyPollRatio: z.number().min(0.01).max(1).default(1),
        partSizeBytes: z
          .number()
          .int()
          .min(5 * MiB, 'must be at least 5 MiB (the S3 minimum part size)')
          .default(16 * MiB),
        partConcurrency: z.number().int().min(1).max(64).default(4),
        shutdownGraceMs: z.number().int().min(0).default(30_000),
        /** Prometheus metrics on http://<metrics.host>:<port>/metrics; 0 turns them off. */
        metricsPort: z.number().int().min(0).max(65_535).default(9464),
        /** The Temporal SDK's own metrics (workflow tasks, activities, pollers) on metrics.host:port; 0 turns them off. */
        sdkMetricsPort: z.number().int().min(0).max(65_535).default(9466),
        /** How often the worker reads each site's pause state (`replication pause`). */
        pausePollMs: z.number().int().min(100).max(60_000).default(1000),
        /** How often a worker reads which backfills run (their keys bring older versions along). */
        backfillScopePollMs: z.number().int().min(100).max(60_000).default(3000),
        /**
         * How far V8 lets the worker's old generation grow between full collections while it
         * streams little (workers/heap-growth.ts): `tightPercent` (0 leaves V8's own growth at
         * all times) until the copies in progress add up to `streamingBytes`, and again once
         * they stayed under it for `settleMs`. A `--heap-growing-percent` given to node wins.
         */
        heapGrowth: z
          .object({
            tightPercent: z.number().int().min(0).max(1000).default(50),
            streamingBytes: z
              .number()
              .int()
              .min(0)
              .default(8 * MiB),
            settleMs: z.number().int().min(0).max(600_000).default(5000),
          })
          .prefault({}),
      })
      .prefault({}),
    /**
     * How every key's workflow applies its versions: read by the populator (it starts the
     * workflows with them) and by the worker, hence its own section rather than `worker.*`.
     */
    policy: z
      .object({
        maxAttempts: z.number().int().min(1).default(20),
        initialRetryIntervalMs: z.number().int().min(1).default(1000),
        maxRetryIntervalMs: z.number().int().min(1).default(60_000),
        /** Versions larger than this are copied as resumable multipart uploads (as are puts of unknown size). */
        multipartThresholdBytes: z
          .number()
          .int()
          .min(0)
          .default(256 * MiB),
        /** Versions up to this size (and tags, delete markers) start as local activities. 0 disables. */
        localActivityMaxBytes: z
          .number()
          .int()
          .min(0)
          .default(8 * MiB),
        continueAsNewAfterVersions: z.number().int().min(1).default(200),
      })
      .prefault({}),
    populator: z
      .object({
        /** Keys signalled at once, per partition. */
        signalConcurrency: z.number().int().min(1).default(64),
        partitionsConsumedConcurrently: z.number().int().min(1).default(8),
        /** Messages of one partition planned and signalled together; their offset is committed after. */
        chunkSize: z.number().int().min(1).max(10_000).default(500),
        /** How long a fetch waits for a partition's batch before leaving it to the partition's own lane. */
        handoffMs: z.number().int().min(0).default(1000),
        /** Longest wait of one Kafka fetch for new messages (kafkajs maxWaitTimeInMs). */
        fetchMaxWaitMs: z.number().int().min(10).default(1000),
        /** The consumer group is heartbeated this often while partitions are being worked on. */
        heartbeatIntervalMs: z.number().int().min(100).default(3000),
        /**
         * A key whose signal has not been accepted after this long (Temporal refusing it, e.g. a run
         * closing on a crashed worker) is left to finish on its own: its partition goes on with later
         * chunks, whose tasks of that key wait behind it, and offsets are committed only up to it.
         */
        parkAfterMs: z.number().int().min(0).default(2000),
        /** Chunks of one partition left to finish on their own at most; the lane waits when there are more. */
        parkedChunksMax: z.number().int().min(1).default(16),
        /** A signal Temporal refuses for one key (throttled, per-workflow limit) is retried this long, then dead-lettered. */
        keyRetryMs: z.number().int().min(0).default(60_000),
        /** Longest pause between attempts while Temporal is unreachable (consumption waits, nothing is skipped). */
        maxBackoffMs: z.number().int().min(100).default(30_000),
        /** Transient S3 errors while reading tags are retried this long, then the replication checks the tags itself. */
        planningRetryMs: z.number().int().min(0).default(2000),
        /** A source bucket's versioning status is cached this long (entries without versionId are checked against it). */
        versioningCacheMs: z.number().int().min(0).default(60_000),
        /** Bytes of the original message kept in a dead letter (its size and SHA-256 are always kept). */
        deadLetterValueBytes: z.number().int().min(0).max(65_536).default(8192),
        /** Bytes of dead letters per produce request, well under Kafka's 1 MiB max.message.bytes. */
        deadLetterRequestBytes: z
          .number()
          .int()
          .min(65_536)
          .max(900 * 1024)
          .default(256 * 1024),
        /** Attempts to write dead letters before they are logged at error level instead. */
        deadLetterAttempts: z.number().int().min(1).max(10).default(3),
        /** Counts (messages, signalled, skipped, dead-lettered) are logged this often when anything happened. */
        summaryIntervalMs: z.number().int().min(1000).default(30_000),
        /** Prometheus metrics on http://<metrics.host>:<port>/metrics; 0 turns them off. */
        metricsPort: z.number().int().min(0).max(65_535).default(9465),
        /**
         * V8's `--heap-growing-percent` for the populator (0 leaves V8's own growth): it streams
         * no data, so its garbage need not pile up to four times its live heap. A
         * `--heap-growing-percent` given to node wins.
         */
        heapGrowingPercent: z.number().int().min(0).max(1000).default(50),
      })
      .prefault({}),
    /** Where the processes serve Prometheus metrics (`/metrics`): loopback unless told otherwise. */
    metrics: z.object({ host: z.string().default('127.0.0.1') }).prefault({}),
    /** Defaults of `replication backfill` (each has a CLI option and an API field). */
    backfill: z
      .object({
        /** Versions submitted and not yet replicated at most, per backfill. */
        concurrency: z.number().int().min(1).max(100_000).default(500),
        /** Versions per ListObjectVersions page. */
        pageSize: z.number().int().min(1).max(1000).default(1000),
        /** Rate limits (0: none). */
        objectsPerSecond: z.number().min(0).default(0),
        mibPerSecond: z.number().min(0).default(0),
        /** Wait before the first submission, so every worker has seen the backfill (> worker.backfillScopePollMs). */
        startDelaySeconds: z.number().min(0).max(3600).default(10),
        /** A backfill's run continues as new past this many history events (lowered by tests). */
        eventsPerRun: z.number().int().min(50).max(50_000).default(5000),
      })
      .prefault({}),
    /** The control API (`replication api`). */
    api: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8900),
        /** File holding the bearer token (CRR_API_TOKEN or CRR_API_TOKEN_FILE override it). */
        tokenFile: z.string().optional(),
        /**
         * The workers' `/metrics.json` addresses the site summaries read throughput and latency
         * from (default: the local worker's metrics port).
         */
        workerMetricsUrls: z.array(z.url()).optional(),
        /** The summaries' window (throughput, latency), and how often the workers are read. */
        metricsWindowMinutes: z.number().positive().max(1440).default(15),
        metricsSampleSeconds: z.number().positive().max(3600).default(15),
        /** Largest request body accepted. */
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .max(10 * MiB)
          .default(64 * 1024),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.policy.multipartThresholdBytes < config.worker.partSizeBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['policy', 'multipartThresholdBytes'],
        message: 'must be at least worker.partSizeBytes',
      });
    }
    if (!(config.sourceSite in config.sites)) {
      ctx.addIssue({
        code: 'custom',
        path: ['sourceSite'],
        message: `"${config.sourceSite}" is not one of the sites`,
      });
    }
    if (config.defaultDestinationSite !== undefined && !(config.defaultDestinationSite in config.sites)) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultDestinationSite'],
        message: `"${config.defaultDestinationSite}" is not one of the sites`,
      });
    }
    for (const site of Object.keys(config.sources)) {
      if (!(site in config.sites))
        ctx.addIssue({
          code: 'custom',
          path: ['sources', site],
          message: `"${site}" is not one of the sites`,
        });
    }
    for (const { site: source, bucket, replication, path } of ruleSets(config)) {
      replication.Rules.forEach((rule, i) => {
        const sites = namedSites(config.sites, rule);
        if (sites.length === 0 && config.defaultDestinationSite === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'Rules', i, 'Destination', 'StorageClass'],
            message: 'name a configured site here, or set defaultDestinationSite',
          });
        }
        const resolved = sites.length > 0 ? sites : [config.defaultDestinationSite];
        if (resolved.includes(source) && rule.Destination.Bucket === bucketArn(bucket)) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'Rules', i, 'Destination'],
            message: 'a bucket cannot replicate to itself',
          });
        }
      });
    }
  });

/** Settings of `policy` that older configs kept under `worker`: still read there, with a warning. */
export const POLICY_SETTINGS = [
  'maxAttempts',
  'initialRetryIntervalMs',
  'maxRetryIntervalMs',
  'multipartThresholdBytes',
  'localActivityMaxBytes',
  'continueAsNewAfterVersions',
] as const;

export type EngineConfig = z.infer<typeof EngineConfigSchema> & {
  /** What the config file should change (deprecated names), for the process to log at start. */
  warnings: string[];
};

/** Moves `worker.<policy setting>` to `policy.<setting>` (unless set there too) and says so. */
function movePolicySettings(json: unknown): { json: unknown; warnings: string[] } {
  const warnings: string[] = [];
  if (typeof json !== 'object' || json === null) return { json, warnings };
  const raw = json as Record<string, unknown>;
  const worker = raw.worker;
  if (typeof worker !== 'object' || worker === null) return { json, warnings };
  const workerOut: Record<string, unknown> = { ...(worker as Record<string, unknown>) };
  const policy: Record<string, unknown> =
    typeof raw.policy === 'object' && raw.policy !== null
      ? { ...(raw.policy as Record<string, unknown>) }
      : {};
  for (const name of POLICY_SETTINGS) {
    if (!(name in workerOut)) continue;
    if (name in policy) {
      warnings.push(`worker.${name} is ignored: policy.${name} is set (remove worker.${name})`);
    } else {
      policy[name] = workerOut[name];
      warnings.push(`worker.${name} is deprecated: move it to policy.${name}`);
    }
    delete workerOut[name];
  }
  if (warnings.length === 0) return { json, warnings };
  return { json: { ...raw, worker: workerOut, policy }, warnings };
}
export type SiteConfig = EngineConfig['sites'][string];

/** Lists every problem as `<field path>: <problem>`, one per line. */
export class ConfigError extends Error {}

function namedSites(sites: Record<string, unknown>, rule: ReplicationRule): string[] {
  const named = rule.Destination.StorageClass?.split(',').map((s) => s.trim()) ?? [];
  return named.length > 0 && named.every((s) => s in sites) ? named : [];
}

export function parseEngineConfig(json: unknown, env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const moved = movePolicySettings(json);
  const result = EngineConfigSchema.safeParse(moved.json);
  if (!result.success) {
    throw new ConfigError(`invalid engine config:\n${formatZodIssues(result.error.issues)}`);
  }
  const config: EngineConfig = { ...result.data, warnings: moved.warnings };
  if (env.TEMPORAL_ADDRESS) config.temporal.address = env.TEMPORAL_ADDRESS;
  if (env.TEMPORAL_NAMESPACE) config.temporal.namespace = env.TEMPORAL_NAMESPACE;
  if (env.KAFKA_BROKERS) config.kafka.brokers = env.KAFKA_BROKERS.split(',').map((b) => b.trim());
  return config;
}

export function loadEngineConfig(file: string, env: NodeJS.ProcessEnv = process.env): EngineConfig {
  if (!fs.existsSync(file)) {
    throw new ConfigError(`config file ${file} not found; run \`replication setup\` or set CRR_CONFIG`);
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return parseEngineConfig(json, env);
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
}

/** Atomic: a reader never sees a half-written file. */
export function saveEngineConfig(file: string, config: unknown): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.CRR_CONFIG ?? 'crr.config.json');
}

/** Every (source site, bucket) with rules: `replication` for `sourceSite`, then `sources`. */
export function ruleSets(
  config: Pick<EngineConfig, 'sourceSite' | 'replication' | 'sources'>,
): Array<{ site: string; bucket: string; replication: ReplicationConfiguration; path: string[] }> {
  const sets = Object.entries(config.replication).map(([bucket, replication]) => ({
    site: config.sourceSite,
    bucket,
    replication,
    path: ['replication', bucket],
  }));
  for (const [site, buckets] of Object.entries(config.sources ?? {}))
    for (const [bucket, replication] of Object.entries(buckets))
      sets.push({ site, bucket, replication, path: ['sources', site, bucket] });
  return sets;
}

/** A bucket's rules on a source site (`sourceSite` when not named). */
export function rulesOf(
  config: Pick<EngineConfig, 'sourceSite' | 'replication' | 'sources'>,
  bucket: string,
  sourceSite?: string,
): ReplicationConfiguration | undefined {
  const site = sourceSite ?? config.sourceSite;
  return (
    config.sources?.[site]?.[bucket] ?? (site === config.sourceSite ? config.replication[bucket] : undefined)
  );
}

/**
 * A source site as tasks, workflow ids and backfill requests carry it: undefined for the
 * config's own `sourceSite`, so that a change names the same workflow whichever way it came.
 */
export function carriedSourceSite(
  config: Pick<EngineConfig, 'sourceSite'>,
  site: string | undefined,
): string | undefined {
  return site === config.sourceSite ? undefined : site;
}

/** Sites whose buckets have rules: `sourceSite` first. */
export function sourceSites(config: Pick<EngineConfig, 'sourceSite' | 'sources'>): string[] {
  return [config.sourceSite, ...Object.keys(config.sources ?? {}).filter((s) => s !== config.sourceSite)];
}

/** Every source site's journal topic, the default one first. */
export function journalTopicsOf(
  config: Pick<EngineConfig, 'sourceSite' | 'sources' | 'sites' | 'kafka'>,
): string[] {
  return [...new Set(sourceSites(config).map((site) => journalTopicOf(config, site)))];
}

/** The Kafka topic a source site's journal arrives on. */
export function journalTopicOf(
  config: Pick<EngineConfig, 'sourceSite' | 'sites' | 'kafka'>,
  site: string,
): string {
  return (
    config.sites[site]?.journalTopic ??
    (site === config.sourceSite
      ? config.kafka.journalTopic
      : siteJournalTopic(site, config.kafka.journalTopic))
  );
}

export function siteOfRule(config: EngineConfig, rule: ReplicationRule): string[] {
  const named = namedSites(config.sites, rule);
  return named.length > 0 ? named : config.defaultDestinationSite ? [config.defaultDestinationSite] : [];
}

export function destinationsFor(
  config: EngineConfig,
  bucket: string,
  object: { key: string; tags?: Record<string, string> },
  sourceSite?: string,
): ReplicationDestination[] {
  const replication = rulesOf(config, bucket, sourceSite);
  if (!replication) return [];
  return selectDestinations(replication, object, (rule) => siteOfRule(config, rule));
}
/** Every site some rule replicates to, i.e. the task queues a worker serves by default. */
export function destinationSites(config: EngineConfig): string[] {
  // The source site is a destination too once some rule (two-way, many-to-one) sends to it.
  const targeted = new Set(
    ruleSets(config).flatMap(({ replication }) => replication.Rules.flatMap((r) => siteOfRule(config, r))),
  );
  return Object.keys(config.sites).filter((site) => site !== config.sourceSite || targeted.has(site));
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { clientFor } from '../../clients/s3';
import { kafkaStatusPublisher } from '../../clients/status-publisher';
import { upsertProfile } from '../../config/credentials-file';
import { parseEngineConfig, POLICY_SETTINGS, type EngineConfig } from '../../config/engine-config';

const isPolicySetting = (name: string) => (POLICY_SETTINGS as readonly string[]).includes(name);
import { lookupReplication } from '../../operations/replication-lookup';
import { localSetupOptions, runSetup } from '../../cli/commands/setup';
import { createPopulator } from '../../populator/populator';
import type { VersionStatus } from '../../shared/replication-task';
import { createReplicationWorker, type RunningReplicationWorker } from '../../workers/replication-worker';
import { createSiteClients } from '../../clients/s3';
import type { StackInfo } from '../../stack/stack';
import { uniqueBucket } from './stack';

/** The config file's JSON as setup wrote it, for tests that add sites or rules. */
export interface EditableConfig {
  sites: Record<string, Record<string, unknown>>;
  replication: Record<string, { Rules: Array<Record<string, unknown>> }>;
  [field: string]: unknown;
}

export interface HarnessDestination {
  site: string;
  bucket: string;
  prefix?: string;
  deleteMarkers?: boolean;
  /**
   * Where the rule replicates from: a bucket of the stack's "target" MinIO (site `target`)
   * makes it a source too (two-way, many-to-one). Default: the harness's source bucket.
   */
  from?: { site: 'source' | 'target'; bucket: string };
}

/**
 * One replication engine (worker + populator, in this process) on the real test stack,
 * configured through `replication setup` like a user would. Each harness has its own
 * buckets, task queues and consumer group, so test files never see each other's work.
 */
export class ReplicationHarness {
  config!: EngineConfig;
  configPath!: string;
  temporal!: Client;
  private connection!: Connection;
  worker!: RunningReplicationWorker;
  private workerRun!: Promise<void>;
  private populator?: ReturnType<typeof createPopulator>;
  readonly sourceBucket: string;
  readonly logs: string[] = [];

  constructor(
    private readonly stack: StackInfo,
    readonly name: string,
    readonly destinations: HarnessDestination[],
    /** `worker.*` and `policy.*` settings, by their names (each goes to its section). */
    private readonly overrides: Partial<EngineConfig['worker'] & EngineConfig['policy']> = {},
    /** Edits the config file setup wrote, before the engine reads it (e.g. a broken site). */
    private readonly editConfig: (raw: EditableConfig) => void = () => undefined,
    /** Extra profiles for the credentials file (engine processes re-read it when it changes). */
    private readonly extraProfiles: Record<string, { accessKeyId: string; secretAccessKey: string }> = {},
    /** Where the populator reaches Temporal (default: the stack's address), e.g. through a TcpProxy. */
    private readonly populatorTemporalAddress?: string,
  ) {
    this.sourceBucket = uniqueBucket(`${name}-src`);
  }

  async start(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `crr-${this.name}-`));
    const credentials = path.join(dir, 'credentials');
    upsertProfile(credentials, 'crr-source', this.stack.sites.source);
    upsertProfile(credentials, 'crr-target', this.stack.sites.target);
    for (const [name, keys] of Object.entries(this.extraProfiles)) upsertProfile(credentials, name, keys);
    process.env.AWS_SHARED_CREDENTIALS_FILE = credentials;
    this.configPath = path.join(dir, 'crr.config.json');
    const id = path.basename(dir).replace(/[^a-zA-Z0-9-]/g, '');
    fs.writeFileSync(
      this.configPath,
      JSON.stringify({
        kafka: { brokers: this.stack.kafka.brokers, consumerGroup: `populator-${id}` },
        temporal: { address: this.stack.temporal.address, taskQueuePrefix: `crr-${id}` },
        worker: Object.fromEntries(Object.entries(this.overrides).filter(([k]) => !isPolicySetting(k))),
        policy: {
          initialRetryIntervalMs: 200,
          maxRetryIntervalMs: 2000,
          maxAttempts: 5,
          ...Object.fromEntries(Object.entries(this.overrides).filter(([k]) => isPolicySetting(k))),
        },
      }),
    );
    for (const [i, d] of this.destinations.entries()) {
      const fromTarget = d.from?.site === 'target';
      const stackSite = (name: 'source' | 'target') => this.stack.sites[name].endpoint;
      const problems = await runSetup(
        localSetupOptions(
          {
            config: this.configPath,
            sourceBucket: d.from?.bucket ?? this.sourceBucket,
            targetBucket: d.bucket,
            sourceEndpoint: stackSite(fromTarget ? 'target' : 'source'),
            // A rule towards the stack's source MinIO names it as a site of its own.
            targetEndpoint: stackSite(d.site === 'source' ? 'source' : 'target'),
          },
          {
            prefix: d.prefix ?? '',
            site: d.site,
            deleteMarkers: d.deleteMarkers ?? true,
            priority: i + 1,
            ...(fromTarget ? { sourceSite: 'target', sourceProfile: 'crr-target' } : {}),
            ...(d.site === 'source' ? { targetProfile: 'crr-source' } : {}),
          },
        ),
        (line) => this.logs.push(line),
      );
      if (problems > 0) throw new Error(`setup failed:\n${this.logs.join('\n')}`);
    }
    const raw = JSON.parse(fs.readFileSync(this.configPath, 'utf8')) as EditableConfig;
    this.editConfig(raw);
    fs.writeFileSync(this.configPath, JSON.stringify(raw));
    this.config = parseEngineConfig(raw, {});
    await this.startWorker();
    this.connection = await Connection.connect({ address: this.config.temporal.address });
    this.temporal = new Client({ connection: this.connection, namespace: this.config.temporal.namespace });
    await this.startPopulator();
  }

  /** Starts the populator (again, after stopPopulator): it goes on from its group's commit. */
  async startPopulator(): Promise<void> {
    const logger = pino({ level: process.env.CRR_TEST_LOG_LEVEL ?? 'silent' });
    const kafka = new Kafka({
      clientId: `harness-${this.name}`,
      brokers: this.config.kafka.brokers,
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    const populatorTemporal = this.populatorTemporalAddress
      ? new Client({
          connection: Connection.lazy({ address: this.populatorTemporalAddress }),
          namespace: this.config.temporal.namespace,
        })
      : this.temporal;
    this.populator = createPopulator({
      config: this.config,
      consumer: kafka.consumer({
        groupId: this.config.kafka.consumerGroup,
        maxWaitTimeInMs: this.config.populator.fetchMaxWaitMs,
      }),
      producer,
      temporal: populatorTemporal,
      source: (
        (clients) => (site: string) =>
          clientFor(clients, site)
      )(createSiteClients(this.config)),
      status: kafkaStatusPublisher(producer, this.config.kafka.statusTopic),
      logger,
    });
    await this.populator.start();
  }

  /** Starts the worker (again, after stopWorker). */
  async startWorker(): Promise<void> {
    const logger = pino({ level: process.env.CRR_TEST_LOG_LEVEL ?? 'silent' });
    this.worker = await createReplicationWorker({ config: this.config, logger });
    this.workerRun = this.worker.run();
  }

  /** Stops the worker alone (drains it, as SIGTERM does), leaving the populator running. */
  async stopWorker(): Promise<void> {
    await this.worker?.shutdown();
    await this.workerRun;
  }

  /** Stops the populator alone (as SIGTERM does), leaving the worker running. */
  async stopPopulator(): Promise<void> {
    const populator = this.populator;
    this.populator = undefined;
    await populator?.stop();
  }

  async stop(): Promise<void> {
    await this.stopPopulator();
    await this.stopWorker();
    await this.connection?.close();
  }

  /** Polls Temporal until the version reaches a final status at the site. */
  async waitForVersion(
    site: string,
    key: string,
    versionId: string,
    options: {
      operation?: VersionStatus['operation'];
      timeoutMs?: number;
      bucket?: string;
      until?: (v: VersionStatus) => boolean;
      /** The bucket's site when it is not the config's source site (two-way). */
      sourceSite?: string;
    } = {},
  ): Promise<VersionStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let last: VersionStatus | undefined;
    for (;;) {
      const r = await lookupReplication(
        this.temporal,
        site,
        options.bucket ?? this.sourceBucket,
        key,
        versionId,
        20,
        options.sourceSite,
      ).catch(() => undefined);
      last = r?.versions.filter((v) => !options.operation || v.operation === options.operation).at(-1);
      const done = options.until ?? ((v: VersionStatus) => v.status === 'COMPLETED' || v.status === 'FAILED');
      if (last && done(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(
          `version ${versionId} of ${key} at ${site} still ${last?.status ?? 'unknown'} after timeout${last?.reason ? ` (${last.reason})` : ''}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

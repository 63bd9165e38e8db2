import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_TOPICS, JOURNAL_PARTITIONS, siteJournalTopic } from '../shared/topics';
import { ensureTopics, startKafka, waitForKafka } from './kafka';
import type { ManagedProcess } from './managed-process';
import { startMinio, waitForS3Site, type S3SiteEndpoint } from './minio';
import { ensureSearchAttributes, startTemporal, waitForTemporal, type TemporalEndpoint } from './temporal';
import { startTemporalServer, temporalShards } from './temporal-server';

export type { S3SiteEndpoint, TemporalEndpoint };

/** Where everything the engine talks to can be reached. Written to <stateDir>/stack.json. */
export interface StackInfo {
  temporal: TemporalEndpoint;
  kafka: { brokers: string[] };
  topics: typeof DEFAULT_TOPICS;
  sites: { source: S3SiteEndpoint; target: S3SiteEndpoint };
  stateDir: string;
  logDir: string;
}

export interface StackOptions {
  stateDir: string;
  /** 'default': well-known ports (7233, 8233, 9092, 9000, 9100) when free; 'free': any free ports. */
  ports: 'default' | 'free';
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * CRR_TEMPORAL: `dev` (default) runs the Temporal CLI dev server (SQLite); `server` runs the
 * Temporal server on PostgreSQL, as deployments do (stack/temporal-server.ts).
 */
export type TemporalKind = 'dev' | 'server';

export function temporalKind(env: NodeJS.ProcessEnv): TemporalKind {
  const raw = env.CRR_TEMPORAL ?? '';
  if (raw === '' || raw === 'dev' || raw === 'start-dev') return 'dev';
  if (raw === 'server') return 'server';
  throw new Error(`CRR_TEMPORAL=${raw}: expected "dev" (the CLI dev server, the default) or "server"`);
}

export type StackServerName = 'temporal' | 'kafka' | 'source' | 'target';

/** A server the stack started itself, which can be crashed and started again in place. */
export interface StackServer {
  name: StackServerName;
  process: ManagedProcess;
  /** Sends `signal` (default SIGKILL, a crash) to the server's process group and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same port, arguments and data folder, and waits until it is ready. */
  start(timeoutMs?: number): Promise<void>;
}

export interface RunningStack {
  info: StackInfo;
  /** The servers this stack started (none for the ones the environment pointed at). */
  servers: Partial<Record<StackServerName, StackServer>>;
  stop(): Promise<void>;
}

function restartable(
  name: StackServerName,
  proc: ManagedProcess,
  ready: (timeoutMs: number) => Promise<void>,
): StackServer {
  return {
    name,
    process: proc,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      await proc.signal(signal);
      if (!(await proc.waitForExit(signal === 'SIGKILL' ? 15_000 : 60_000))) {
        throw new Error(`${proc.options.name} still running after ${signal}`);
      }
    },
    async start(timeoutMs = 90_000) {
      proc.start();
      await ready(timeoutMs);
    },
  };
}

export const DEFAULT_PORTS = { temporal: 7233, temporalUi: 8233, kafka: 9092, source: 9000, target: 9100 };

// Local-only credentials of the stack's MinIO sites (never used outside loopback).
export const LOCAL_SITE_CREDENTIALS = {
  source: { accessKeyId: 'crr-source-admin', secretAccessKey: 'crr-source-secret-key' },
  target: { accessKeyId: 'crr-target-admin', secretAccessKey: 'crr-target-secret-key' },
};

function externalSite(name: 'source' | 'target', env: NodeJS.ProcessEnv): S3SiteEndpoint | undefined {
  const prefix = `CRR_${name.toUpperCase()}`;
  const endpoint = env[`${prefix}_ENDPOINT`];
  if (!endpoint) return undefined;
  const accessKeyId = env[`${prefix}_ACCESS_KEY_ID`];
  const secretAccessKey = env[`${prefix}_SECRET_ACCESS_KEY`];
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(
      `${prefix}_ENDPOINT is set: also set ${prefix}_ACCESS_KEY_ID and ${prefix}_SECRET_ACCESS_KEY`,
    );
  }
  return { name, endpoint, region: env[`${prefix}_REGION`] ?? 'us-east-1', accessKeyId, secretAccessKey };
}

/**
 * Starts (or, where the environment points at existing servers, checks) Temporal, Kafka and
 * the two S3 sites. Servers we start are stopped by `stop()`; servers we were pointed at
 * are only checked for readiness.
 */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);
  const stateDir = path.resolve(options.stateDir);
  const dataDir = path.join(stateDir, 'data');
  const logDir = path.join(stateDir, 'logs');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.mkdirSync(logDir, { recursive: true });
  const port = (p: number) => (options.ports === 'default' ? p : undefined);
  const started: ManagedProcess[] = [];
  // Stopped once the others are gone (PostgreSQL, under the Temporal server).
  const startedLast: ManagedProcess[] = [];
  const servers: RunningStack['servers'] = {};
  const stop = async () => {
    await Promise.all(started.reverse().map((p) => p.stop()));
    await Promise.all(startedLast.map((p) => p.stop()));
  };

  try {
    const temporalPromise = (async (): Promise<TemporalEndpoint> => {
      if (env.TEMPORAL_ADDRESS) {
        const endpoint = { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE ?? 'default' };
        await waitForTemporal(endpoint, 30_000);
        await ensureSearchAttributes(endpoint);
        return endpoint;
      }
      if (temporalKind(env) === 'server') {
        const shards = temporalShards(env);
        log(`Temporal: the server on PostgreSQL (CRR_TEMPORAL=server, ${shards} history shards)`);
        const t = await startTemporalServer({
          dataDir,
          logDir,
          grpcPort: port(DEFAULT_PORTS.temporal),
          uiPort: port(DEFAULT_PORTS.temporalUi),
          log,
          shards,
        });
        startedLast.push(t.database);
        started.push(t.process, t.ui);
        servers.temporal = restartable('temporal', t.process, (ms) =>
          waitForTemporal(t.endpoint, ms, t.process),
        );
        return t.endpoint;
      }
      const t = await startTemporal({
        dataDir,
        logDir,
        grpcPort: port(DEFAULT_PORTS.temporal),
        uiPort: port(DEFAULT_PORTS.temporalUi),
        log,
      });
      started.push(t.process);
      servers.temporal = restartable('temporal', t.process, (ms) =>
        waitForTemporal(t.endpoint, ms, t.process),
      );
      return t.endpoint;
    })();
    const kafkaPromise = (async (): Promise<string[]> => {
      if (env.KAFKA_BROKERS) {
        const brokers = env.KAFKA_BROKERS.split(',').map((b) => b.trim());
        await waitForKafka(brokers, 30_000);
        return brokers;
      }
      const k = await startKafka({ dataDir, logDir, port: port(DEFAULT_PORTS.kafka), log });
      started.push(k.process);
      servers.kafka = restartable('kafka', k.process, (ms) => waitForKafka(k.brokers, ms, k.process));
      return k.brokers;
    })();
    // Settle both before failing so that a half-started stack is still stopped below.
    const [temporalResult, kafkaResult] = await Promise.allSettled([temporalPromise, kafkaPromise]);
    if (temporalResult.status === 'rejected') throw temporalResult.reason;
    if (kafkaResult.status === 'rejected') throw kafkaResult.reason;
    const brokers = kafkaResult.value;
    await ensureTopics(brokers);
    // Every site can be a source (two-way replication): the target site's journal topic too.
    await ensureJournalTopic(brokers, siteJournalTopic('target'));

    const site = async (name: 'source' | 'target', preferredPort: number): Promise<S3SiteEndpoint> => {
      const external = externalSite(name, env);
      if (external) {
        await waitForS3Site(external.endpoint, 30_000);
        return external;
      }
      const m = await startMinio({
        name,
        dataDir,
        logDir,
        port: port(preferredPort),
        ...LOCAL_SITE_CREDENTIALS[name],
        journal: { brokers, topic: name === 'source' ? DEFAULT_TOPICS.journal : siteJournalTopic(name) },
        log,
      });
      started.push(m.process);
      servers[name] = restartable(name, m.process, (ms) => waitForS3Site(m.site.endpoint, ms, m.process));
      return m.site;
    };
    const [sourceResult, targetResult] = await Promise.allSettled([
      site('source', DEFAULT_PORTS.source),
      site('target', DEFAULT_PORTS.target),
    ]);
    if (sourceResult.status === 'rejected') throw sourceResult.reason;
    if (targetResult.status === 'rejected') throw targetResult.reason;

    const info: StackInfo = {
      temporal: temporalResult.value,
      kafka: { brokers },
      topics: DEFAULT_TOPICS,
      sites: { source: sourceResult.value, target: targetResult.value },
      stateDir,
      logDir,
    };
    fs.writeFileSync(path.join(stateDir, 'stack.json'), JSON.stringify(info, null, 2), { mode: 0o600 });
    return { info, servers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A journal topic of another source site, with the default journal's partitions. */
async function ensureJournalTopic(brokers: string[], topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'crr-stack', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    // Right after the broker starts, metadata requests may answer "does not host this
    // topic-partition" for a moment: retried for a few seconds.
    for (let attempt = 1; ; attempt++) {
      try {
        if (!(await admin.listTopics()).includes(topic))
          await admin.createTopics({
            topics: [{ topic, numPartitions: JOURNAL_PARTITIONS }],
            waitForLeaders: true,
          });
        await admin.fetchTopicMetadata({ topics: [topic] });
        return;
      } catch (err) {
        if (attempt >= 40) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

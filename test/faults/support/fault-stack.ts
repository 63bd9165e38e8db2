import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import { upsertProfile } from '../../../config/credentials-file';
import { startStack, type RunningStack, type StackInfo, type StackServerName } from '../../../stack/stack';
import type { S3SiteEndpoint } from '../../../stack/stack';

/**
 * The real stack one fault-suite file runs on: started by the file itself (not by jest's
 * global setup) so that the test can kill -9 a server and start it again in place.
 */
export interface FaultStack {
  running: RunningStack;
  info: StackInfo;
  /** Scratch folder of this file: credentials, configs, engine logs. */
  dir: string;
  credentialsFile: string;
  source: S3Client;
  target: S3Client;
  kafka: Kafka;
  temporal: Client;
  /** kill -9 one server, wait `downMs`, start it again on the same port with the same data. */
  crashAndRestart(server: StackServerName, downMs: number): Promise<{ killedAt: number; readyAt: number }>;
  /** Stops every server; deletes the data, and the logs too unless `keepLogs`. */
  stop(options?: { keepLogs?: boolean }): Promise<void>;
}

export function s3For(site: S3SiteEndpoint): S3Client {
  return new S3Client({
    endpoint: site.endpoint,
    region: site.region,
    forcePathStyle: true,
    credentials: { accessKeyId: site.accessKeyId, secretAccessKey: site.secretAccessKey },
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, socketTimeout: 120_000 }),
    maxAttempts: 5,
  });
}

const HOW_TO_PROVIDE =
  'The fault suite runs on real servers it starts itself: Temporal CLI dev server, Kafka and two MinIO ' +
  'sites, built once into ~/.cache/crr-stack (needs Go, Java 17 and Maven the first time, see docs/DEVELOPMENT.md), ' +
  'or binaries given with CRR_TEMPORAL_BIN / CRR_MINIO_BIN or on PATH. Servers pointed at with TEMPORAL_ADDRESS, ' +
  'KAFKA_BROKERS or CRR_*_ENDPOINT cannot be crashed and restarted by the suite: unset them.';

export async function startFaultStack(name: string): Promise<FaultStack> {
  for (const variable of [
    'TEMPORAL_ADDRESS',
    'KAFKA_BROKERS',
    'CRR_SOURCE_ENDPOINT',
    'CRR_TARGET_ENDPOINT',
  ]) {
    if (process.env[variable]) {
      throw new Error(`${variable} is set: ${HOW_TO_PROVIDE}`);
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `crr-faults-${name}-`));
  let running: RunningStack;
  const started = Date.now();
  try {
    running = await startStack({
      stateDir: path.join(dir, 'stack'),
      ports: 'free',
      log: (line) => process.stderr.write(`[fault stack] ${line}\n`),
    });
  } catch (err) {
    throw new Error(`could not start the fault stack: ${(err as Error).message}\n${HOW_TO_PROVIDE}`, {
      cause: err,
    });
  }
  process.stderr.write(
    `[fault stack] ${name}: ready in ${Date.now() - started} ms; state and logs in ${dir}\n`,
  );
  const info = running.info;
  for (const server of ['temporal', 'kafka', 'source', 'target'] as const) {
    if (!running.servers[server])
      throw new Error(`the stack did not start ${server} itself: ${HOW_TO_PROVIDE}`);
  }
  const credentialsFile = path.join(dir, 'credentials');
  upsertProfile(credentialsFile, 'crr-source', info.sites.source);
  upsertProfile(credentialsFile, 'crr-target', info.sites.target);
  // `replication setup` (run in this process) reads the profiles from here, like the engine's processes.
  process.env.AWS_SHARED_CREDENTIALS_FILE = credentialsFile;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const connection = await Connection.connect({ address: info.temporal.address });
  const temporal = new Client({ connection, namespace: info.temporal.namespace });
  const source = s3For(info.sites.source);
  const target = s3For(info.sites.target);
  const kafka = new Kafka({
    clientId: `faults-${name}`,
    brokers: info.kafka.brokers,
    logLevel: logLevel.NOTHING,
  });
  return {
    running,
    info,
    dir,
    credentialsFile,
    source,
    target,
    kafka,
    temporal,
    async crashAndRestart(server, downMs) {
      const s = running.servers[server]!;
      const killedAt = Date.now();
      await s.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, Math.max(0, downMs - (Date.now() - killedAt))));
      await s.start(120_000);
      return { killedAt, readyAt: Date.now() };
    },
    async stop(options = {}) {
      source.destroy();
      target.destroy();
      await connection.close().catch(() => undefined);
      await running.stop();
      if (process.env.CRR_KEEP_TEST_STACK === '1') return;
      if (options.keepLogs) {
        fs.rmSync(path.join(dir, 'stack', 'data'), { recursive: true, force: true });
        process.stderr.write(`[fault stack] ${name}: logs kept in ${dir}\n`);
      } else {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

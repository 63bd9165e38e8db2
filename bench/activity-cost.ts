/**
 * What the replication activity alone costs the worker's CPU, without Temporal, Kafka or the
 * populator: two real MinIO servers, N versions of 4 KiB on the source, each applied to the
 * target by `copyObjectVersion` exactly as the key workflow's local activity calls it
 * (`concurrency` at a time). Beside it, in the same process and on the same objects, the bare
 * GET + PUT of the raw copy loop: the difference is what exactly-once placement adds.
 *
 *   npm run bench:activity [-- <versions> <concurrency>]
 *
 * The worker's flags (workers/node-flags.ts) apply. Prints CPU-ms per version for each part.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import pLimit from 'p-limit';
import pino from 'pino';
import { createReplicationActivities, MarkerCache, SourcePartsFallbacks } from '../activities';
import { createS3Client } from '../clients/s3';
import { startMinio } from '../stack/minio';
import type { ReplicationTask } from '../shared/replication-task';
import { workerMetrics } from '../metrics/worker-metrics';
import { copyObjectStreaming } from './baselines';
import { cpuMsSince } from './process-metrics';

const versions = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 16);
const BODY = Buffer.alloc(4096, 7);

async function versionedBucket(s3: S3Client, bucket: string) {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-activity-cost-'));
  const log = () => undefined;
  const credentials = { accessKeyId: 'benchadmin', secretAccessKey: 'benchadmin-secret' };
  const [source, target] = await Promise.all(
    ['source', 'target'].map((name) => startMinio({ name, dataDir: dir, logDir: dir, ...credentials, log })),
  );
  try {
    const connection = (endpoint: string) => ({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
    });
    const sourceS3 = createS3Client(connection(source!.site.endpoint));
    const targetS3 = createS3Client(connection(target!.site.endpoint));
    await versionedBucket(sourceS3, 'src');
    await versionedBucket(targetS3, 'dst');
    await versionedBucket(targetS3, 'raw');
    const limit = pLimit(concurrency);
    const written = await Promise.all(
      Array.from({ length: versions }, (_, i) =>
        limit(async () => {
          const key = `obj-${i}`;
          const put = await sourceS3.send(new PutObjectCommand({ Bucket: 'src', Key: key, Body: BODY }));
          return { key, versionId: put.VersionId! };
        }),
      ),
    );

    const activities = createReplicationActivities(
      {
        sourceSite: 'source',
        source: sourceS3,
        targetClient: () => targetS3,
        settings: {
          multipartThresholdBytes: 256 * 1024 * 1024,
          localActivityMaxBytes: 4 * 1024 * 1024,
          partSizeBytes: 16 * 1024 * 1024,
          partConcurrency: 4,
        },
        status: { publish: async () => undefined },
        logger: pino({ level: 'warn' }),
        markers: new MarkerCache(),
        sourcePartsFallbacks: new SourcePartsFallbacks(),
      },
      workerMetrics(),
    );
    const local = new MockActivityEnvironment({ isLocal: true, attempt: 1 });
    const task = (key: string, versionId: string, i: number): ReplicationTask => ({
      entry: {
        bucket: 'src',
        key,
        versionId,
        operation: 'put',
        size: BODY.length,
        eventTime: new Date().toISOString(),
        sequence: String(i + 1),
      },
      target: { site: 'target', bucket: 'dst', ruleId: 'bench', replicateDeleteMarkers: true },
    });

    // Warm-up (connections, JIT) on a tenth, outside the measured window.
    const warm = Math.max(1, Math.floor(versions / 10));
    const run = async (from: number, to: number, each: (i: number) => Promise<unknown>) => {
      const started = process.cpuUsage();
      const t0 = Date.now();
      await Promise.all(written.slice(from, to).map((_, j) => limit(() => each(from + j))));
      return {
        cpuMs: cpuMsSince(started) / (to - from),
        perSecond: ((to - from) * 1000) / (Date.now() - t0),
      };
    };
    const activity = (i: number) => {
      const { key, versionId } = written[i]!;
      return local.run(activities.copyObjectVersion, task(key, versionId, i), [], 'single-put' as const);
    };
    const raw = (i: number) =>
      copyObjectStreaming(sourceS3, targetS3, 'src', 'raw', { ...written[i]!, size: BODY.length });
    await run(0, warm, activity);
    await run(0, warm, raw);
    const measured = await run(warm, versions, activity);
    const bare = await run(warm, versions, raw);
    // A second application of the same versions: what a redelivered change costs (no copy).
    const again = await run(warm, versions, activity);
    const n = versions - warm;
    console.log(
      [
        `${n} versions of 4 KiB, ${concurrency} at a time, node ${process.version} ${process.execArgv.join(' ')}`,
        `copyObjectVersion (list target, list source, GET, PUT): ${measured.cpuMs.toFixed(2)} CPU-ms per version, ${measured.perSecond.toFixed(0)}/s`,
        `raw GET + PUT:                                         ${bare.cpuMs.toFixed(2)} CPU-ms per version, ${bare.perSecond.toFixed(0)}/s`,
        `copyObjectVersion again (already replicated):           ${again.cpuMs.toFixed(2)} CPU-ms per version, ${again.perSecond.toFixed(0)}/s`,
      ].join('\n'),
    );
  } finally {
    await Promise.all([source?.process.stop(), target?.process.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * What the replication activity alone costs the worker's CPU, without Temporal, Kafka or the
 * populator: two real MinIO servers, N versions of 4 KiB on the source, each applied to the
 * target by `copyObjectVersion` exactly as the key workflow's local activity calls it
 * (`concurrency` at a time). Beside it, in the same process and on the same objects, the bare
 * GET + PUT of the raw copy loop: the difference is what exactly-once placement adds.
 *
 *   npm run bench:activity [-- <versions> <concurrency>]
 *
 * The worker's flags (workers/node-flags.ts) apply. Prints CPU-ms per version for each part,
 * the worker's and each MinIO server's. Keys are `obj-<i>` (BENCH_ACTIVITY_KEYS=padded:
 * `obj-<i>` zero-padded, so that no key is a prefix of another): MinIO lists a key's versions
 * by walking its folder and reading every key that the key is a prefix of, up to the page size.
 * BENCH_SDK_PIPELINE=sdk-default gives the site clients the SDK's whole default middleware stack
 * instead of the engine's trimmed one (clients/s3-request-pipeline.ts), for an A/B of it.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import pLimit from 'p-limit';
import pino from 'pino';
import { createReplicationActivities, MarkerCache, SourcePartsFallbacks } from '../activities';
import { createS3Client } from '../clients/s3';
import type { ReplicationTask } from '../shared/replication-task';
import { workerMetrics } from '../metrics/worker-metrics';
import { copyObjectStreaming, createVersionedBucket } from './baselines';
import { startBenchSites } from './bench-sites';
import { cpuMsSince, processCpuSeconds } from './process-metrics';

const versions = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 16);
const BODY = Buffer.alloc(4096, 7);
const padded = process.env.BENCH_ACTIVITY_KEYS === 'padded';
const pipeline = process.env.BENCH_SDK_PIPELINE === 'sdk-default' ? 'sdk-default' : 'trimmed';
const keyOf = (i: number) => `obj-${padded ? String(i).padStart(String(versions).length, '0') : i}`;

async function main() {
  const {
    sites: [source, target],
    stop,
  } = await startBenchSites('activity-cost', ['source', 'target']);
  try {
    const sourceS3 = createS3Client(source!.connection, 64, pipeline);
    const targetS3 = createS3Client(target!.connection, 64, pipeline);
    await createVersionedBucket(sourceS3, 'src');
    await createVersionedBucket(targetS3, 'dst');
    await createVersionedBucket(targetS3, 'raw');
    const [sourcePid, targetPid] = await Promise.all([
      source!.process.serverPid(),
      target!.process.serverPid(),
    ]);
    const limit = pLimit(concurrency);
    const written = await Promise.all(
      Array.from({ length: versions }, (_, i) =>
        limit(async () => {
          const key = keyOf(i);
          const put = await sourceS3.send(new PutObjectCommand({ Bucket: 'src', Key: key, Body: BODY }));
          return { key, versionId: put.VersionId! };
        }),
      ),
    );

    /** A worker's activities; each call has a marker cache of its own (what a worker has seen). */
    const workerActivities = () =>
      createReplicationActivities(
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
    const activities = workerActivities();
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
      const servers = [processCpuSeconds(sourcePid), processCpuSeconds(targetPid)];
      const t0 = Date.now();
      await Promise.all(written.slice(from, to).map((_, j) => limit(() => each(from + j))));
      const perVersion = (cpuSeconds: number) => (cpuSeconds * 1000) / (to - from);
      return {
        cpuMs: cpuMsSince(started) / (to - from),
        sourceMs: perVersion(processCpuSeconds(sourcePid) - servers[0]!),
        targetMs: perVersion(processCpuSeconds(targetPid) - servers[1]!),
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
    // The same, on a worker that has not seen these keys (restarted, or one of several).
    const other = workerActivities();
    const againElsewhere = await run(warm, versions, (i) => {
      const { key, versionId } = written[i]!;
      return local.run(other.copyObjectVersion, task(key, versionId, i), [], 'single-put' as const);
    });
    const n = versions - warm;
    const line = (what: string, r: typeof measured) =>
      `${what.padEnd(55)}${r.cpuMs.toFixed(2)} CPU-ms per version (MinIO source ${r.sourceMs.toFixed(2)}, target ${r.targetMs.toFixed(2)}), ${r.perSecond.toFixed(0)}/s`;
    console.log(
      [
        `${n} versions of 4 KiB, keys ${padded ? 'zero-padded' : 'obj-<i>'}, ${concurrency} at a time, ${pipeline} SDK pipeline, node ${process.version} ${process.execArgv.join(' ')}`,
        line('copyObjectVersion (list target, list source, GET, PUT):', measured),
        line('raw GET + PUT:', bare),
        line('copyObjectVersion again (already replicated):', again),
        line('the same, on a worker that has not seen the keys:', againElsewhere),
      ].join('\n'),
    );
  } finally {
    await stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

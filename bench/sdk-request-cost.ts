/**
 * What one S3 request through the engine's site client costs the worker's CPU, by command, on
 * a real MinIO server: the client as the engine builds it (its request pipeline trimmed,
 * clients/s3-request-pipeline.ts) against the same client with every middleware of the SDK's
 * default stack, in alternating rounds in one process.
 *
 *   npm run bench:sdk-request [-- <requests per command> <rounds> <concurrency>]
 *
 * Prints CPU-ms per request (process CPU, so the HTTP and socket work of the request count).
 * The first round of each pipeline warms the JIT and the socket pool and is not counted.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { createS3Client } from '../clients/s3';
import { createVersionedBucket } from './baselines';
import { startBenchSites } from './bench-sites';
import { cpuMsSince } from './process-metrics';

const requests = Number(process.argv[2] ?? 3000);
const rounds = Number(process.argv[3] ?? 4);
const concurrency = Number(process.argv[4] ?? 16);
const BODY = Buffer.alloc(4096, 7);
const BUCKET = 'sdk-request-cost';

/** The four requests of a small object's first copy: target HEAD (404), source listing, GET, PUT. */
const commands: Array<[string, (s3: S3Client, i: number) => Promise<unknown>]> = [
  [
    'HEAD (404)',
    (s3, i) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `absent-${i}` })).catch(() => undefined),
  ],
  ['PUT 4 KiB', (s3, i) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `obj-${i}`, Body: BODY }))],
  [
    'GET 4 KiB',
    async (s3, i) => {
      const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `obj-${i}` }));
      return out.Body?.transformToByteArray();
    },
  ],
  [
    'ListObjectVersions',
    (s3, i) => s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: `obj-${i}`, MaxKeys: 10 })),
  ],
];

async function cpuPerRequest(s3: S3Client, request: (s3: S3Client, i: number) => Promise<unknown>) {
  const limit = pLimit(concurrency);
  const since = process.cpuUsage();
  await Promise.all(Array.from({ length: requests }, (_, i) => limit(() => request(s3, i))));
  return cpuMsSince(since) / requests;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const {
    sites: [minio],
    stop,
  } = await startBenchSites('sdk-request-cost', ['source']);
  try {
    const pipelines = {
      trimmed: createS3Client(minio!.connection, 64, 'trimmed'),
      'sdk-default': createS3Client(minio!.connection, 64, 'sdk-default'),
    };
    await createVersionedBucket(pipelines.trimmed, BUCKET);
    const results = new Map<string, number[]>();
    for (let round = 0; round <= rounds; round++) {
      for (const [pipeline, s3] of Object.entries(pipelines)) {
        for (const [name, request] of commands) {
          const ms = await cpuPerRequest(s3, request);
          if (round === 0) continue;
          const key = `${pipeline}\t${name}`;
          results.set(key, [...(results.get(key) ?? []), ms]);
        }
      }
    }
    console.log(`${requests} requests per command and round, ${rounds} rounds, ${concurrency} at a time`);
    console.log('pipeline\tcommand\tmedian CPU-ms per request\trounds');
    for (const [key, values] of results) {
      console.log(`${key}\t${median(values).toFixed(3)}\t${values.map((v) => v.toFixed(3)).join(' ')}`);
    }
    for (const pipeline of Object.keys(pipelines)) {
      const perObject = commands.reduce(
        (sum, [name]) => sum + median(results.get(`${pipeline}\t${name}`)!),
        0,
      );
      console.log(`${pipeline}: the four requests of a first copy, ${perObject.toFixed(2)} CPU-ms`);
    }
  } finally {
    await stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

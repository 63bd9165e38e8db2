import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { putInParts } from '../test/support/s3-helpers';

export interface PutRecord {
  key: string;
  versionId: string;
  bytes: number;
  putAt: number;
  /** How long the source took to accept the PUT: a slow disk shows here as well as in our latency. */
  putMs: number;
}

export interface WorkloadSpec {
  id: 'W1' | 'W2' | 'W2p' | 'W3' | 'W4';
  title: string;
  run(s3: S3Client, bucket: string): Promise<PutRecord[]>;
}

/** Every bucket of a workload is named after it: one for each journal variant and each peer. */
export const workloadBucket = (spec: WorkloadSpec, purpose: string): string =>
  `bench-${spec.id.toLowerCase()}-${purpose}`;

export async function put(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<PutRecord> {
  const started = Date.now();
  const out = await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }),
  );
  return { key, versionId: out.VersionId!, bytes: body.length, putAt: started, putMs: Date.now() - started };
}

/** The object written as a multipart upload of `partSize` parts, one after the other, as clients write large files. */
async function putWholeParts(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  partSize: number,
): Promise<PutRecord> {
  const started = Date.now();
  const sizes = Array.from({ length: Math.ceil(body.length / partSize) }, (_, i) =>
    Math.min(partSize, body.length - i * partSize),
  );
  const { versionId } = await putInParts(s3, bucket, key, body, sizes);
  return { key, versionId, bytes: body.length, putAt: started, putMs: Date.now() - started };
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** A large body whose 4 KiB blocks differ (so no layer can compress or deduplicate it away). */
export function bigBody(bytes: number): Buffer {
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < body.length; i += 4096) body.writeUInt32LE((i * 2654435761) >>> 0, i);
  return body;
}

/**
 * W4's offered load in objects/s: 50, what its target is set at. `BENCH_W4_RATE` tries another
 * (how the latency looks below or above what the machine carries); such a run is printed only,
 * never merged into docs/BENCHMARKS.md (bench/main.ts).
 */
export function w4Rate(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BENCH_W4_RATE ?? '50';
  const rate = Number(raw);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 10_000)
    throw new Error(`BENCH_W4_RATE=${raw}: expected objects per second, a number above 0 (default 50)`);
  return rate;
}

export function workloads(scale: number): WorkloadSpec[] {
  const n = (full: number, min: number) => Math.max(min, Math.round(full * scale));
  const w1Count = n(5000, 100);
  const w2Count = n(8, 2);
  const w3Keys = n(20, 4);
  const w3Versions = n(50, 5);
  const w4Seconds = n(60, 10);
  const rate = w4Rate();
  return [
    {
      id: 'W1',
      title: `${w1Count} objects of 4 KiB, put as fast as the source accepts`,
      run: async (s3, bucket) => {
        const body = Buffer.alloc(4 * KiB, 'w');
        const limit = pLimit(64);
        return Promise.all(
          Array.from({ length: w1Count }, (_, i) => limit(() => put(s3, bucket, `w1/obj-${i}`, body))),
        );
      },
    },
    {
      id: 'W2',
      title: `${w2Count} objects of 256 MiB`,
      run: async (s3, bucket) => {
        const body = bigBody(256 * MiB);
        const limit = pLimit(4);
        return Promise.all(
          Array.from({ length: w2Count }, (_, i) => limit(() => put(s3, bucket, `w2/big-${i}`, body))),
        );
      },
    },
    {
      id: 'W2p',
      title: `${w2Count} objects of 256 MiB, each uploaded in 16 MiB parts`,
      run: async (s3, bucket) => {
        const body = bigBody(256 * MiB);
        const limit = pLimit(4);
        return Promise.all(
          Array.from({ length: w2Count }, (_, i) =>
            limit(() => putWholeParts(s3, bucket, `w2p/big-${i}`, body, 16 * MiB)),
          ),
        );
      },
    },
    {
      id: 'W3',
      title: `overwrite storm: ${w3Keys} keys × ${w3Versions} versions`,
      run: async (s3, bucket) => {
        const records: PutRecord[] = [];
        // Each key's versions in order; keys in parallel.
        await Promise.all(
          Array.from({ length: w3Keys }, async (_, k) => {
            for (let v = 0; v < w3Versions; v++) {
              records.push(await put(s3, bucket, `w3/key-${k}`, Buffer.from(`key ${k} version ${v}`)));
            }
          }),
        );
        return records;
      },
    },
    {
      id: 'W4',
      title: `steady offered load: ${rate} objects/s for ${w4Seconds} s`,
      run: async (s3, bucket) => {
        const body = Buffer.alloc(4 * KiB, 's');
        const total = Math.round(rate * w4Seconds);
        const start = Date.now();
        const pending: Array<Promise<PutRecord>> = [];
        for (let i = 0; i < total; i++) {
          const due = start + (i * 1000) / rate;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          pending.push(put(s3, bucket, `w4/obj-${i}`, body));
        }
        return Promise.all(pending);
      },
    },
  ];
}

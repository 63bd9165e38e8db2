import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { S3SiteConnection } from '../clients/s3';
import { cacheDir } from '../stack/paths';
import type { S3SiteEndpoint } from '../stack/stack';
import { log } from './log';
import { tapPuts } from './put-tap';

const run = promisify(execFile);

/** Like execFile, with the command's own error output in the thrown message. */
async function runWithStderr(
  file: string,
  args: string[],
  options: Parameters<typeof run>[2],
): Promise<void> {
  try {
    await run(file, args, options);
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '')
      .trim()
      .split('\n')
      .slice(-5)
      .join(' | ');
    throw new Error(`${file} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

export async function createVersionedBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
}

export async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix = '',
): Promise<Array<{ key: string; size: number }>> {
  const keys: Array<{ key: string; size: number }> = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }),
    );
    keys.push(...(page.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0 })));
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return keys;
}

/** One object copied the way L copies: a streaming GET piped into a PUT, same SDK, nothing else. */
export async function copyObjectStreaming(
  source: S3Client,
  target: S3Client,
  sourceBucket: string,
  targetBucket: string,
  object: { key: string; size?: number; versionId?: string },
): Promise<void> {
  const got = await source.send(
    new GetObjectCommand({ Bucket: sourceBucket, Key: object.key, VersionId: object.versionId }),
  );
  await target.send(
    new PutObjectCommand({
      Bucket: targetBucket,
      Key: object.key,
      Body: got.Body as never,
      ContentLength: object.size ?? got.ContentLength,
    }),
  );
}

/** L, the limit: a plain streaming GET → PUT loop, same SDK, same concurrency, no Kafka, no Temporal. */
export async function rawCopy(
  source: S3Client,
  target: S3Client,
  sourceBucket: string,
  targetBucket: string,
  keys: Array<{ key: string; size: number }>,
  concurrency: number,
): Promise<number> {
  const limit = pLimit(concurrency);
  const started = Date.now();
  await Promise.all(
    keys.map((object) =>
      limit(() => copyObjectStreaming(source, target, sourceBucket, targetBucket, object)),
    ),
  );
  return Date.now() - started;
}

/**
 * L over the engine's own window: the workload's PUTs, each object copied with the same
 * streaming GET → PUT as soon as its PUT returns, by a copier in its own process (as the
 * engine's worker is, so it does not share the load generator's event loop). Its time runs
 * from the first PUT to the last copy, like the engine's (first PUT → last COMPLETED).
 */
export async function rawCopyAfterPut(
  run: (s3: S3Client, bucket: string) => Promise<Array<{ putAt: number }>>,
  writer: S3Client,
  sites: { source: S3SiteConnection; target: S3SiteConnection },
  sourceBucket: string,
  targetBucket: string,
  concurrency: number,
): Promise<number> {
  const copier = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(__dirname, 'raw-copier.ts'),
      JSON.stringify({ ...sites, sourceBucket, targetBucket, concurrency }),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const done: number[] = [];
  let expected = Number.POSITIVE_INFINITY;
  const finished = new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: copier.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as { key: string; at?: number; error?: string };
      if (answer.error) reject(new Error(`L copier: ${answer.key}: ${answer.error}`));
      done.push(answer.at!);
      if (done.length >= expected) resolve();
    });
    copier.once('exit', (code) => reject(new Error(`L copier exited (${code})`)));
  });
  // Each acknowledged PUT becomes a job for the copier.
  const tapped = tapPuts(writer, ({ Key, ContentLength }, out) =>
    copier.stdin!.write(`${JSON.stringify({ key: Key, versionId: out.VersionId, size: ContentLength })}\n`),
  );
  try {
    const records = await run(tapped, sourceBucket);
    expected = records.length;
    if (done.length < expected) await finished;
    return Math.max(...done) - Math.min(...records.map((r) => r.putAt));
  } finally {
    copier.kill();
  }
}

function rcloneEnv(name: string, site: S3SiteEndpoint): NodeJS.ProcessEnv {
  const prefix = `RCLONE_CONFIG_${name.toUpperCase()}`;
  return {
    [`${prefix}_TYPE`]: 's3',
    [`${prefix}_PROVIDER`]: 'Minio',
    [`${prefix}_ACCESS_KEY_ID`]: site.accessKeyId,
    [`${prefix}_SECRET_ACCESS_KEY`]: site.secretAccessKey,
    [`${prefix}_ENDPOINT`]: site.endpoint,
    [`${prefix}_REGION`]: site.region,
  };
}

/** P1: `rclone copy` between the two sites (Debian's rclone). Returns wall time in ms. */
export async function rcloneCopy(
  source: S3SiteEndpoint,
  target: S3SiteEndpoint,
  sourceBucket: string,
  targetBucket: string,
  transfers: number,
): Promise<number> {
  const started = Date.now();
  await runWithStderr(
    'rclone',
    [
      'copy',
      `src:${sourceBucket}`,
      `dst:${targetBucket}`,
      '--transfers',
      String(transfers),
      '--checkers',
      String(transfers),
      '--s3-upload-concurrency',
      '4',
    ],
    {
      // rclone refuses AWS_CA_BUNDLE (set on some machines) for plain-HTTP endpoints.
      env: {
        ...process.env,
        AWS_CA_BUNDLE: undefined,
        ...rcloneEnv('src', source),
        ...rcloneEnv('dst', target),
      },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return Date.now() - started;
}

export async function rcloneVersion(): Promise<string> {
  const { stdout } = await run('rclone', ['version']);
  return stdout.split('\n')[0] ?? 'rclone';
}

/** The `mc` that configures P2, built once into the stack's cache; undefined where Go cannot build it. */
export function mcBinary(): string | undefined {
  const dir = path.join(cacheDir(), 'bin');
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).find((d) => d.startsWith('mc-')) : undefined;
  if (found) return path.join(dir, found, 'mc');
  try {
    const version = 'v0.0.0-20250313080218-cf909e1063a9';
    const target = path.join(dir, `mc-${version}`);
    log(`building mc ${version} from the Go module proxy (first run only)...`);
    execFileSync('go', ['install', `github.com/minio/mc@${version}`], {
      env: { ...process.env, GOBIN: target },
      stdio: 'inherit',
    });
    return path.join(target, 'mc');
  } catch {
    return undefined;
  }
}

/** P2: MinIO's own bucket replication, configured with `mc` (built from the Go module proxy). */
export async function configureMinioReplication(
  mc: string,
  configDir: string,
  source: S3SiteEndpoint,
  target: S3SiteEndpoint,
  sourceBucket: string,
  targetBucket: string,
  /** `mc replicate add --replicate` (mc's default when unset: delete-marker,delete,existing-objects,metadata-sync). */
  replicate?: string,
): Promise<void> {
  const env = { ...process.env, MC_CONFIG_DIR: configDir };
  await run(mc, ['alias', 'set', 'src', source.endpoint, source.accessKeyId, source.secretAccessKey], {
    env,
  });
  await run(mc, ['alias', 'set', 'dst', target.endpoint, target.accessKeyId, target.secretAccessKey], {
    env,
  });
  const remote = new URL(target.endpoint);
  remote.username = target.accessKeyId;
  remote.password = target.secretAccessKey;
  remote.pathname = `/${targetBucket}`;
  await run(
    mc,
    [
      'replicate',
      'add',
      `src/${sourceBucket}`,
      '--remote-bucket',
      remote.toString(),
      '--priority',
      '1',
      ...(replicate ? ['--replicate', replicate] : []),
    ],
    { env },
  );
}

/** The ARN of the remote target `configureMinioReplication` gave a bucket (from its replication rule). */
export async function minioReplicationArn(
  mc: string,
  configDir: string,
  sourceBucket: string,
): Promise<string> {
  const { stdout } = await run(mc, ['replicate', 'ls', `src/${sourceBucket}`, '--json'], {
    env: { ...process.env, MC_CONFIG_DIR: configDir },
  });
  const arn = /"(arn:minio:replication:[^"]+)"/.exec(stdout)?.[1];
  if (!arn) throw new Error(`no replication target ARN in: ${stdout.slice(0, 300)}`);
  return arn;
}

/** `mc replicate resync start`: MinIO re-replicates every object the bucket holds to the target. */
export async function startMinioResync(
  mc: string,
  configDir: string,
  sourceBucket: string,
  arn: string,
): Promise<void> {
  await runWithStderr(mc, ['replicate', 'resync', 'start', `src/${sourceBucket}`, '--remote-bucket', arn], {
    env: { ...process.env, MC_CONFIG_DIR: configDir },
  });
}

/** What `mc replicate resync status --json` says of the bucket's resync towards `arn`. */
export interface MinioResyncStatus {
  /** Ongoing, Completed, Failed, … ('' before MinIO has recorded the resync). */
  status: string;
  replicatedCount: number;
  replicatedBytes: number;
  failedCount: number;
  /** MinIO's own clock (this machine's): when the resync started and last moved. */
  startTime?: string;
  endTime?: string;
}

export async function minioResyncStatus(
  mc: string,
  configDir: string,
  sourceBucket: string,
  arn: string,
): Promise<MinioResyncStatus> {
  const { stdout } = await run(
    mc,
    ['replicate', 'resync', 'status', `src/${sourceBucket}`, '--remote-bucket', arn, '--json'],
    { env: { ...process.env, MC_CONFIG_DIR: configDir } },
  );
  const doc = JSON.parse(stdout) as { resyncInfo?: { target?: Array<Record<string, unknown>> } };
  const t = doc.resyncInfo?.target?.find((x) => x.arn === arn) ?? {};
  return {
    status: String(t.resyncStatus ?? ''),
    replicatedCount: Number(t.replicationCount ?? 0),
    replicatedBytes: Number(t.completedReplicationSize ?? 0),
    failedCount: Number(t.failedReplicationCount ?? 0),
    ...(t.startTime ? { startTime: String(t.startTime) } : {}),
    ...(t.endTime ? { endTime: String(t.endTime) } : {}),
  };
}

/** Polls the target until it lists `expected` objects under the prefix; returns when that happened. */
export async function waitForObjectCount(
  s3: S3Client,
  bucket: string,
  prefix: string,
  expected: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const count = (await listKeys(s3, bucket, prefix)).length;
    if (count >= expected) return Date.now();
    if (Date.now() > deadline) throw new Error(`only ${count} of ${expected} objects in ${bucket}/${prefix}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3SiteConnection } from '../clients/s3';
import type { ManagedProcess } from '../stack/managed-process';
import { startMinio } from '../stack/minio';

export interface BenchSite {
  process: ManagedProcess;
  /** For `createS3Client`, which builds the engine's client (and its request pipeline). */
  connection: S3SiteConnection;
}

/**
 * MinIO servers of their own for a bench that runs without the stack (no Temporal, no Kafka):
 * one per name, in a temporary folder, with the bench's credentials. `stop` stops them all and
 * removes the folder.
 */
export async function startBenchSites(
  label: string,
  names: string[],
): Promise<{ sites: BenchSite[]; stop: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `crr-${label}-`));
  const credentials = { accessKeyId: 'benchadmin', secretAccessKey: 'benchadmin-secret' };
  const started = await Promise.all(
    names.map((name) =>
      startMinio({ name, dataDir: dir, logDir: dir, ...credentials, log: () => undefined }),
    ),
  );
  const sites = started.map(({ site, process }) => ({
    process,
    connection: { endpoint: site.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
  }));
  const stop = async () => {
    await Promise.all(started.map(({ process }) => process.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { sites, stop };
}

import path from 'node:path';
import type { createS3Client, S3SiteConnection } from '../clients/s3';
import type { StackInfo } from '../stack/stack';
import {
  configureMinioReplication,
  createVersionedBucket,
  listKeys,
  rawCopy,
  rawCopyAfterPut,
  rcloneCopy,
  waitForObjectCount,
} from './baselines';
import { log } from './log';
import type { WorkloadResult } from './report';
import { throughput } from './throughput';
import { workloadBucket, type WorkloadSpec } from './workloads';

/** The two sites as the peers reach them, and the peers' programs where this machine has them. */
export interface Peers {
  sites: { source: S3SiteConnection; target: S3SiteConnection };
  source: ReturnType<typeof createS3Client>;
  target: ReturnType<typeof createS3Client>;
  info: StackInfo;
  mc?: string;
  rclone?: string;
}

/**
 * L, L over the same window, P1 (rclone) and P2 (MinIO replication) on `spec`. L and P1 copy
 * what the engine's run left in `bucket` (`bytes` in all) rather than put the workload again.
 */
export async function measureBaselines(
  spec: WorkloadSpec,
  peers: Peers,
  bucket: string,
  bytes: number,
): Promise<WorkloadResult['baselines']> {
  const baselines: WorkloadResult['baselines'] = {};
  const keys = await listKeys(peers.source, bucket);
  const concurrency = spec.id === 'W1' ? 32 : 8;
  const lBucket = workloadBucket(spec, 'limit');
  await createVersionedBucket(peers.target, lBucket);
  const lMs = await rawCopy(peers.source, peers.target, bucket, lBucket, keys, concurrency);
  baselines.L = throughput(keys.length, bytes, lMs / 1000);
  log(
    `${spec.id}: L ${baselines.L.objectsPerSecond.toFixed(1)} obj/s, ${baselines.L.mibPerSecond.toFixed(1)} MiB/s`,
  );
  const wSrc = workloadBucket(spec, 'lwsrc');
  const wDst = workloadBucket(spec, 'lwdst');
  await createVersionedBucket(peers.source, wSrc);
  await createVersionedBucket(peers.target, wDst);
  const wMs = await rawCopyAfterPut(spec.run, peers.source, peers.sites, wSrc, wDst, concurrency);
  baselines.Lwindow = throughput(keys.length, bytes, wMs / 1000);
  log(
    `${spec.id}: L same window ${baselines.Lwindow.objectsPerSecond.toFixed(1)} obj/s, ${baselines.Lwindow.mibPerSecond.toFixed(1)} MiB/s`,
  );
  if (peers.rclone) {
    const rBucket = workloadBucket(spec, 'rclone');
    await createVersionedBucket(peers.target, rBucket);
    const rMs = await rcloneCopy(
      peers.info.sites.source,
      peers.info.sites.target,
      bucket,
      rBucket,
      concurrency,
    );
    baselines.P1 = throughput(keys.length, bytes, rMs / 1000);
    log(
      `${spec.id}: P1 rclone ${baselines.P1.objectsPerSecond.toFixed(1)} obj/s, ${baselines.P1.mibPerSecond.toFixed(1)} MiB/s`,
    );
  }
  if (peers.mc) {
    try {
      const pSrc = workloadBucket(spec, 'p2src');
      const pDst = workloadBucket(spec, 'p2dst');
      await createVersionedBucket(peers.source, pSrc);
      await createVersionedBucket(peers.target, pDst);
      await configureMinioReplication(
        peers.mc,
        path.join(peers.info.stateDir, 'mc'),
        peers.info.sites.source,
        peers.info.sites.target,
        pSrc,
        pDst,
      );
      const pRecords = await spec.run(peers.source, pSrc);
      const pFirst = Math.min(...pRecords.map((r) => r.putAt));
      const pDone = await waitForObjectCount(peers.target, pDst, '', pRecords.length, 30 * 60_000);
      baselines.P2 = throughput(pRecords.length, bytes, (pDone - pFirst) / 1000);
      log(
        `${spec.id}: P2 MinIO replication ${baselines.P2.objectsPerSecond.toFixed(1)} obj/s, ${baselines.P2.mibPerSecond.toFixed(1)} MiB/s`,
      );
    } catch (err) {
      baselines.P2error = (err as Error).message.split('\n')[0];
      log(`${spec.id}: P2 could not run: ${baselines.P2error}`);
    }
  }
  return baselines;
}

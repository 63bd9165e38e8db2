import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { StatusPublisher } from '../clients/status-publisher';
import type { ReplicationTask } from '../shared/replication-task';
import type { MarkerCache } from './version-history';
import type { SourcePartsFallbacks } from './copy-source-parts';

/** Everything the replication activities need, injected by the worker (or a test). */
export interface ReplicationContext {
  sourceSite: string;
  source: S3Client;
  /**
   * Whether the task's destination bucket replicates back to its source (two-way): then
   * concurrent writes are settled by last writer wins (placement.ts).
   */
  isTwoWay?: (task: ReplicationTask) => boolean;
  /** Other source sites' clients (two-way and many-to-one replication). */
  sourceClient?: (site: string) => S3Client;
  targetClient(site: string): S3Client;
  /** Whether replica writes to a site carry If-Match / If-None-Match (write-fence.ts; default yes). */
  conditionalWrites?: (site: string) => boolean;
  settings: {
    multipartThresholdBytes: number;
    /** A local activity hands a copy larger than this to a regular one. */
    localActivityMaxBytes: number;
    partSizeBytes: number;
    partConcurrency: number;
  };
  status: StatusPublisher;
  logger: Logger;
  /** Replica markers already read or written (versions never change: cached for the process's life). */
  markers: MarkerCache;
  /** Source buckets copied in ranges for a while, after a copy in their parts could not be checked. */
  sourcePartsFallbacks: SourcePartsFallbacks;
  /**
   * Told when a copy starts streaming a version's bytes through the worker, with its size; the
   * returned function when the copy ends (workers/heap-growth.ts sizes V8's heap from it).
   */
  copyLoad?: { copyStarted(bytes: number): () => void };
  /** Running backfills: a change to a key they cover brings over the versions from before the rule. */
  backfillScopes?: BackfillScopes;
}

export interface BackfillScopes {
  /** `sourceSite`: the bucket's site when it is not the config's `sourceSite` (as tasks carry it). */
  covers(site: string, bucket: string, key: string, sourceSite?: string): boolean;
}

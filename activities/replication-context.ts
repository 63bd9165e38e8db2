import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { StatusPublisher } from './status-publisher';

/** Everything the replication activities need, injected by the worker (or a test). */
export interface ReplicationContext {
  sourceSite: string;
  source: S3Client;
  targetClient(site: string): S3Client;
  settings: {
    multipartThresholdBytes: number;
    partSizeBytes: number;
    partConcurrency: number;
  };
  status: StatusPublisher;
  logger: Logger;
}

import type { S3Client } from '@aws-sdk/client-s3';
import pino from 'pino';
import { MarkerCache, SourcePartsFallbacks } from '../../activities';
import type { ReplicationContext } from '../../activities/replication-context';

/**
 * What a worker hands its replication activities, for tests that call them directly on the
 * real sites: the site 'source' and every destination on `target`, small copies as local
 * activities, nothing published, a marker cache of its own (what one worker has seen).
 */
export function testReplicationContext(
  source: S3Client,
  target: S3Client,
  overrides: Partial<ReplicationContext> = {},
): ReplicationContext {
  return {
    sourceSite: 'source',
    source,
    targetClient: () => target,
    settings: {
      multipartThresholdBytes: 256 * 1024 * 1024,
      localActivityMaxBytes: 8 * 1024 * 1024,
      partSizeBytes: 16 * 1024 * 1024,
      partConcurrency: 2,
    },
    status: { publish: async () => undefined },
    logger: pino({ level: 'silent' }),
    markers: new MarkerCache(),
    sourcePartsFallbacks: new SourcePartsFallbacks(),
    ...overrides,
  };
}

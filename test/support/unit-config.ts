import { parseEngineConfig, type EngineConfig } from '../../config/engine-config';

/**
 * The engine config unit tests share: bucket `photos` on site `source` replicated to bucket
 * `dst` on site `west` (every key, delete markers included), with populator overrides.
 */
export function photosToWestConfig(populator: Record<string, unknown> = {}): EngineConfig {
  return parseEngineConfig(
    {
      sourceSite: 'source',
      sites: { source: { endpoint: 'http://127.0.0.1:9000' }, west: { endpoint: 'http://127.0.0.1:9100' } },
      replication: {
        photos: {
          Role: 'arn:aws:iam::1:role/r',
          Rules: [
            {
              ID: 'all',
              Status: 'Enabled',
              Priority: 1,
              Filter: { Prefix: '' },
              DeleteMarkerReplication: { Status: 'Enabled' },
              Destination: { Bucket: 'arn:aws:s3:::dst', StorageClass: 'west' },
            },
          ],
        },
      },
      populator,
    },
    {},
  );
}

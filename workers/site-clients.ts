import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../activities/s3-clients';
import { resolveSiteCredentials } from '../config/credentials';
import type { EngineConfig } from '../config/engine-config';

/** An S3 client for every configured site, credentials resolved from profiles or the environment. */
export function createSiteClients(config: EngineConfig, maxSockets = 64): Map<string, S3Client> {
  return new Map(
    Object.entries(config.sites).map(([name, site]) => [
      name,
      createS3Client(
        {
          endpoint: site.endpoint,
          region: site.region,
          forcePathStyle: site.forcePathStyle,
          credentials: resolveSiteCredentials(site),
        },
        maxSockets,
      ),
    ]),
  );
}

/** Every site some rule replicates to, i.e. the task queues a worker serves by default. */
export function destinationSites(config: EngineConfig): string[] {
  return Object.keys(config.sites).filter((site) => site !== config.sourceSite);
}

import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../activities/s3-clients';
import { resolveSiteCredentials } from '../config/credentials';
import type { EngineConfig } from '../config/engine-config';

/** Where credential reloads are reported (a pino logger fits); never given the keys. */
export interface CredentialReloadLogger {
  info(fields: Record<string, unknown>, message: string): void;
}

/**
 * An S3 client for every configured site, credentials resolved from profiles or the
 * environment. Profile credentials are read again when the credentials or config file
 * changes (checked at most once a second), so a fixed file takes effect without a restart
 * and without recreating the clients.
 */
export function createSiteClients(
  config: EngineConfig,
  maxSockets = 64,
  logger?: CredentialReloadLogger,
): Map<string, S3Client> {
  return new Map(
    Object.entries(config.sites).map(([name, site]) => [
      name,
      createS3Client(
        {
          endpoint: site.endpoint,
          region: site.region,
          forcePathStyle: site.forcePathStyle,
          credentials: resolveSiteCredentials(site, process.env, {
            onRead: ({ profile, files, reason, ok }) => {
              if (reason === 'changed')
                logger?.info(
                  { site: name, profile, files, ok },
                  'credential files changed: profile read again',
                );
            },
          }),
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

import { fromEnv, fromIni } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentityProvider } from '@smithy/types';

interface CredentialSource {
  profile?: string;
}

/** A profile from the shared credentials file, or the environment when the site names none. */
export function resolveSiteCredentials(
  site: CredentialSource,
  env: NodeJS.ProcessEnv = process.env,
): AwsCredentialIdentityProvider {
  if (site.profile) {
    return fromIni({
      profile: site.profile,
      filepath: env.AWS_SHARED_CREDENTIALS_FILE,
      configFilepath: env.AWS_CONFIG_FILE,
    });
  }
  return fromEnv();
}

/** Where a site's credentials come from, without the secrets. */
export function describeCredentialSource(
  site: CredentialSource,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (site.profile)
    return `profile "${site.profile}" in ${env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'}`;
  return 'environment (AWS_ACCESS_KEY_ID)';
}

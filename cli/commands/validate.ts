import { createS3Client } from '../../clients/s3';
import { describeCredentialSource, resolveSiteCredentials } from '../../config/credentials';
import { loadEngineConfig, siteOfRule } from '../../config/engine-config';
import { bucketOfArn } from '../../shared/s3-names';
import { checkVersioning, explainS3Error, SetupProblem } from '../site-checks';
import { HeadBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';

/** `replication validate`: checks the config, the sites and the buckets without changing anything. */
export async function runValidate(configPath: string, out: (line: string) => void): Promise<number> {
  let config;
  try {
    config = loadEngineConfig(configPath);
  } catch (err) {
    out(`error: ${(err as Error).message}`);
    return 1;
  }
  out(`config ${configPath}: valid (${Object.keys(config.replication).length} replicated bucket(s))`);
  let problems = 0;
  const bucketsBySite = new Map<string, Set<string>>();
  for (const [bucket, replication] of Object.entries(config.replication)) {
    bucketsBySite.set(config.sourceSite, new Set([...(bucketsBySite.get(config.sourceSite) ?? []), bucket]));
    for (const rule of replication.Rules) {
      const target = bucketOfArn(rule.Destination.Bucket);
      for (const site of siteOfRule(config, rule))
        bucketsBySite.set(site, new Set([...(bucketsBySite.get(site) ?? []), target]));
    }
  }
  for (const [name, site] of Object.entries(config.sites)) {
    const credentials = describeCredentialSource(site);
    const s3 = createS3Client({ ...site, credentials: resolveSiteCredentials(site) });
    try {
      await s3.send(new ListBucketsCommand({}));
      out(`site "${name}" ${site.endpoint}: reachable, credentials accepted (${credentials})`);
      for (const bucket of bucketsBySite.get(name) ?? []) {
        try {
          await s3.send(new HeadBucketCommand({ Bucket: bucket }));
          await checkVersioning(s3, bucket);
          out(`site "${name}": bucket ${bucket} exists with versioning enabled`);
        } catch (err) {
          problems++;
          out(
            `error: site "${name}": ${err instanceof SetupProblem ? err.message : explainS3Error(`bucket ${bucket}`, site.endpoint, credentials, err)}`,
          );
        }
      }
    } catch (err) {
      problems++;
      out(`error: ${explainS3Error(`site "${name}"`, site.endpoint, credentials, err)}`);
    } finally {
      s3.destroy();
    }
  }
  return problems;
}

import fs from 'node:fs';
import { ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../clients/s3';
import { describeCredentialSource, resolveSiteCredentials } from '../../config/credentials';
import { parseEngineConfig, saveEngineConfig, type EngineConfig } from '../../config/engine-config';
import { MINIO_JOURNAL_QUEUE_ARN } from '../../shared/topics';
import {
  attachJournalNotification,
  ensureBucket,
  ensureVersioning,
  explainS3Error,
  SetupProblem,
} from '../site-checks';
import { bucketArn } from '../../shared/s3-names';

export interface SetupOptions {
  config: string;
  sourceBucket: string;
  sourceProfile: string;
  targetBucket: string;
  targetProfile: string;
  prefix: string;
  site: string;
  sourceSite: string;
  sourceEndpoint?: string;
  targetEndpoint?: string;
  region: string;
  deleteMarkers: boolean;
  notification: boolean;
  journalArn: string;
  priority?: number;
}

type RawConfig = Record<string, unknown> & {
  sites?: Record<string, Record<string, unknown>>;
  replication?: Record<string, BucketRules>;
  sources?: Record<string, Record<string, BucketRules>>;
};
type BucketRules = { Role: string; Rules: Array<Record<string, unknown>> };

function readRawConfig(path: string): RawConfig {
  if (!fs.existsSync(path)) return {};
  return JSON.parse(fs.readFileSync(path, 'utf8')) as RawConfig;
}

/** Adds (or replaces) the sites and the rule the setup flags describe, in the config file's raw JSON. */
export function withReplicationRule(raw: RawConfig, o: SetupOptions): RawConfig {
  const sites = { ...(raw.sites ?? {}) };
  const site = (name: string, endpoint: string | undefined, profile: string, flag: string) => {
    const existing = sites[name];
    const url = endpoint ?? (existing?.endpoint as string | undefined);
    if (!url) throw new SetupProblem(`site ${name}: no endpoint known; pass ${flag} <url>`);
    sites[name] = {
      ...existing,
      endpoint: url,
      region: existing?.region ?? o.region,
      forcePathStyle: existing?.forcePathStyle ?? true,
      profile,
    };
  };
  site(o.sourceSite, o.sourceEndpoint, o.sourceProfile, '--source-endpoint');
  site(o.site, o.targetEndpoint, o.targetProfile, '--target-endpoint');
  // The config's first source site keeps its rules in `replication`; others (two-way,
  // many-to-one) in `sources.<site>`.
  const defaultSource = (raw.sourceSite as string | undefined) ?? o.sourceSite;
  const replication: Record<string, BucketRules> =
    o.sourceSite === defaultSource
      ? { ...(raw.replication ?? {}) }
      : { ...(raw.sources?.[o.sourceSite] ?? {}) };
  const bucketConfig = replication[o.sourceBucket] ?? {
    Role: 'arn:aws:iam::000000000000:role/crr-replication',
    Rules: [],
  };
  const ruleId = `${o.sourceBucket}-to-${o.site}-${o.targetBucket}${o.prefix ? `-${o.prefix}` : ''}`.slice(
    0,
    255,
  );
  const others = bucketConfig.Rules.filter((r) => r.ID !== ruleId);
  const priority = o.priority ?? Math.max(0, ...others.map((r) => Number(r.Priority ?? 0))) + 1;
  replication[o.sourceBucket] = {
    ...bucketConfig,
    Rules: [
      ...others,
      {
        ID: ruleId,
        Priority: priority,
        Status: 'Enabled',
        Filter: { Prefix: o.prefix },
        Destination: { Bucket: bucketArn(o.targetBucket), StorageClass: o.site },
        DeleteMarkerReplication: { Status: o.deleteMarkers ? 'Enabled' : 'Disabled' },
      },
    ],
  };
  if (o.sourceSite !== defaultSource)
    return { ...raw, sites, sources: { ...(raw.sources ?? {}), [o.sourceSite]: replication } };
  return { ...raw, sourceSite: defaultSource, sites, replication };
}

async function checkAccess(what: string, s3: S3Client, endpoint: string, credentials: string): Promise<void> {
  try {
    await s3.send(new ListBucketsCommand({}));
  } catch (err) {
    throw new SetupProblem(explainS3Error(what, endpoint, credentials, err));
  }
}

/**
 * `replication setup`: creates missing buckets, enables versioning on both, attaches the
 * journal notification to the source bucket, checks access and stores the rule. Prints
 * one line per problem; returns the number of problems.
 */
export async function runSetup(o: SetupOptions, out: (line: string) => void): Promise<number> {
  let config: EngineConfig;
  let raw: RawConfig;
  try {
    raw = withReplicationRule(readRawConfig(o.config), o);
    config = parseEngineConfig(raw, process.env);
  } catch (err) {
    out(`error: ${(err as Error).message}`);
    return 1;
  }
  const problems: string[] = [];
  const step = async (what: string, endpoint: string, credentials: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (err) {
      problems.push(
        err instanceof SetupProblem
          ? `${what}: ${err.message}`
          : explainS3Error(what, endpoint, credentials, err),
      );
    }
  };
  const sides = [
    { what: `source site "${o.sourceSite}"`, siteName: o.sourceSite, bucket: o.sourceBucket },
    { what: `target site "${o.site}"`, siteName: o.site, bucket: o.targetBucket },
  ];
  for (const side of sides) {
    const site = config.sites[side.siteName]!;
    const credentials = describeCredentialSource(site);
    const s3 = createS3Client({ ...site, credentials: resolveSiteCredentials(site) });
    try {
      const before = problems.length;
      await step(side.what, site.endpoint, credentials, () =>
        checkAccess(side.what, s3, site.endpoint, credentials),
      );
      if (problems.length > before) continue;
      await step(`${side.what} bucket ${side.bucket}`, site.endpoint, credentials, async () => {
        const result = await ensureBucket(s3, side.bucket);
        out(`${side.what}: bucket ${side.bucket} ${result === 'created' ? 'created' : 'exists'}`);
        await ensureVersioning(s3, side.bucket);
        out(`${side.what}: versioning enabled on ${side.bucket}`);
        if (side.siteName === o.sourceSite && o.notification) {
          await attachJournalNotification(s3, side.bucket, o.journalArn);
          out(`${side.what}: journal notification ${o.journalArn} attached to ${side.bucket}`);
        }
      });
    } finally {
      s3.destroy();
    }
  }
  if (problems.length > 0) {
    for (const problem of problems) out(`error: ${problem}`);
    out(
      `replication setup failed (${problems.length} problem${problems.length > 1 ? 's' : ''}); the config was not changed`,
    );
    return problems.length;
  }
  // The file keeps what the user wrote (no defaults or environment overrides baked in).
  saveEngineConfig(o.config, raw as unknown as EngineConfig);
  out(
    `replication setup successful: s3://${o.sourceBucket}/${o.prefix} → s3://${o.targetBucket} at site "${o.site}" (config ${o.config})`,
  );
  return 0;
}

export const DEFAULT_JOURNAL_ARN = MINIO_JOURNAL_QUEUE_ARN;

/** The setup of a local stack's two sites with the demo profiles; callers override what differs. */
export function localSetupOptions(
  required: Pick<
    SetupOptions,
    'config' | 'sourceBucket' | 'targetBucket' | 'sourceEndpoint' | 'targetEndpoint'
  >,
  overrides: Partial<SetupOptions> = {},
): SetupOptions {
  return {
    sourceProfile: 'crr-source',
    targetProfile: 'crr-target',
    prefix: '',
    site: 'target',
    sourceSite: 'source',
    region: 'us-east-1',
    deleteMarkers: true,
    notification: true,
    journalArn: DEFAULT_JOURNAL_ARN,
    priority: 1,
    ...required,
    ...overrides,
  };
}

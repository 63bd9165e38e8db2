import { localSetupOptions, runSetup } from '../cli/commands/setup';
import { MINIO_UNQUEUED_JOURNAL_ARN } from '../shared/topics';
import type { StackInfo } from '../stack/stack';
import { workloadBucket, type WorkloadSpec } from './workloads';

/**
 * The ways the journal reaches the engine, each measured on a bucket pair of its own:
 * MinIO's durable notifications (all workloads), the bench writing the journal itself right
 * after each PUT (no MinIO delivery at all), and MinIO's target without a queue folder.
 */
export interface JournalVariant {
  measurement: 'ours' | 'direct' | 'unqueued';
  bucketSuffix: string;
  label: string;
  workloads: string[];
  notification: boolean;
  journalArn?: string;
}

export const JOURNAL_VARIANTS: JournalVariant[] = [
  {
    measurement: 'ours',
    bucketSuffix: 'src',
    label: '',
    workloads: ['W1', 'W2', 'W2p', 'W3', 'W4'],
    notification: true,
  },
  {
    measurement: 'direct',
    bucketSuffix: 'direct',
    label: ' (direct journal)',
    workloads: ['W1', 'W4'],
    notification: false,
  },
  {
    measurement: 'unqueued',
    bucketSuffix: 'now',
    label: ' (MinIO target without queue folder)',
    workloads: ['W2', 'W4'],
    notification: true,
    journalArn: MINIO_UNQUEUED_JOURNAL_ARN,
  },
];

export const variantsOf = (spec: WorkloadSpec): JournalVariant[] =>
  JOURNAL_VARIANTS.filter((v) => v.workloads.includes(spec.id));

export const sourceBucketOf = (spec: WorkloadSpec, variant: JournalVariant): string =>
  workloadBucket(spec, variant.bucketSuffix);

/** Each variant's bucket pair set up the way an operator would, with `replication setup`. */
export async function setUpBucketPairs(
  specs: WorkloadSpec[],
  configPath: string,
  info: StackInfo,
): Promise<void> {
  for (const spec of specs) {
    for (const variant of variantsOf(spec)) {
      const source = sourceBucketOf(spec, variant);
      const problems = await runSetup(
        localSetupOptions(
          {
            config: configPath,
            sourceBucket: source,
            targetBucket: `${source}-dst`,
            sourceEndpoint: info.sites.source.endpoint,
            targetEndpoint: info.sites.target.endpoint,
          },
          {
            notification: variant.notification,
            ...(variant.journalArn ? { journalArn: variant.journalArn } : {}),
          },
        ),
        () => undefined,
      );
      if (problems > 0) throw new Error(`setup failed for ${source}`);
    }
  }
}

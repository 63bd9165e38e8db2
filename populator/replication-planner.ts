import type { JournalEntry } from '../shared/journal-entry';
import type { ReplicationTarget, ReplicationTask } from '../shared/replication-task';
import { destinationsFor, type EngineConfig } from '../config/engine-config';
import { needsTags } from '../config/rule-matching';

/** Reads a source version's tags when a rule filters on tags and the journal did not carry them. */
export type TagsLookup = (entry: JournalEntry) => Promise<Record<string, string>>;

export interface ReplicationPlan {
  tasks: ReplicationTask[];
  /** Why nothing is replicated, for the debug log. */
  skipped?: string;
}

function bucketFromArn(arn: string | undefined): string | undefined {
  if (!arn) return undefined;
  return arn.startsWith('arn:aws:s3:::') ? arn.slice('arn:aws:s3:::'.length) : arn;
}

/** Backbeat-style entries name their destination sites and bucket themselves. */
function targetsFromReplicationInfo(entry: JournalEntry, config: EngineConfig): ReplicationTarget[] {
  const bucket = bucketFromArn(entry.replication?.destination);
  if (!bucket) return [];
  return (entry.replication?.sites ?? [])
    .filter((site) => site in config.sites && site !== config.sourceSite)
    .map((site) => ({ site, bucket, ruleId: 'journal-replication-info', replicateDeleteMarkers: true }));
}

/**
 * Decides what one journal entry must become: one task per destination site, following
 * AWS replication rules (or Backbeat's replicationInfo when the entry carries it).
 */
export async function planReplication(
  entry: JournalEntry,
  config: EngineConfig,
  lookupTags: TagsLookup,
): Promise<ReplicationPlan> {
  if (entry.isReplica) return { tasks: [], skipped: 'the version is a replica (no replication loops)' };
  if (entry.operation === 'delete-version')
    return { tasks: [], skipped: 'deletes of a specific version are not replicated' };
  if (entry.replication && entry.replication.status !== 'PENDING') {
    return { tasks: [], skipped: `replicationInfo.status is ${entry.replication.status}, not PENDING` };
  }

  const bucketConfig = config.replication[entry.bucket];
  let targets: ReplicationTarget[];
  if (bucketConfig) {
    let tags = entry.tags;
    if (tags === undefined && needsTags(bucketConfig)) {
      tags = entry.operation === 'delete-marker' ? {} : await lookupTags(entry);
    }
    targets = destinationsFor(config, entry.bucket, { key: entry.key, tags }).map((d) => ({
      site: d.site,
      bucket: d.targetBucket,
      ruleId: d.ruleId,
      storageClass: d.storageClass,
      replicateDeleteMarkers: d.replicateDeleteMarkers,
    }));
    const namedSites = entry.replication?.sites;
    if (namedSites && namedSites.length > 0) targets = targets.filter((t) => namedSites.includes(t.site));
  } else if (entry.replication) {
    targets = targetsFromReplicationInfo(entry, config);
  } else {
    return { tasks: [], skipped: `bucket ${entry.bucket} has no replication configuration` };
  }

  if (entry.operation === 'delete-marker') targets = targets.filter((t) => t.replicateDeleteMarkers);
  if (targets.length === 0) return { tasks: [], skipped: 'no enabled rule matches' };
  return { tasks: targets.map((target) => ({ entry, target })) };
}

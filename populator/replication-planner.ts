import type { JournalEntry } from '../shared/journal-entry';
import {
  JOURNAL_REPLICATION_INFO_RULE,
  taskEntryOf,
  type ReplicationTarget,
  type ReplicationTask,
} from '../shared/replication-task';
import {
  carriedSourceSite,
  destinationsFor,
  rulesOf,
  siteOfRule,
  type EngineConfig,
} from '../config/engine-config';
import {
  needsTagsFor,
  selectCandidateDestinations,
  type CandidateDestination,
} from '../config/rule-matching';
import { bucketOfArn } from '../shared/s3-names';
import { readReplicaMarker } from '../shared/replica-marker';

/** A version's tags, or why they could not be read (the lookup has already retried what it could). */
export type TagsLookupResult = { tags: Record<string, string> } | { unknown: string };

/** Reads a source version's tags when a rule filters on tags and the journal did not carry them. */
export type TagsLookup = (entry: JournalEntry) => Promise<TagsLookupResult>;

/** Why an entry replicates nowhere, as a short category for the counts in the logs. */
export type SkipKind =
  | 'replica'
  | 'version delete'
  | 'replicationInfo not PENDING'
  | 'bucket without replication rules'
  | 'no matching rule';

export interface ReplicationPlan {
  tasks: ReplicationTask[];
  /** Why nothing is replicated, for the debug log. */
  skipped?: string;
  skipKind?: SkipKind;
  /** Set when the tags could not be read: the tasks carry `target.requiredTags` where a rule needs them. */
  tagsUnknown?: string;
}

/** Backbeat-style entries name their destination sites and bucket themselves. */
function targetsFromReplicationInfo(entry: JournalEntry, config: EngineConfig): ReplicationTarget[] {
  const bucket = entry.replication?.destination ? bucketOfArn(entry.replication.destination) : undefined;
  if (!bucket) return [];
  return (entry.replication?.sites ?? [])
    .filter((site) => site in config.sites && site !== (entry.sourceSite ?? config.sourceSite))
    .map((site) => ({ site, bucket, ruleId: JOURNAL_REPLICATION_INFO_RULE, replicateDeleteMarkers: true }));
}

function skip(skipKind: SkipKind, skipped: string): ReplicationPlan {
  return { tasks: [], skipKind, skipped };
}

/**
 * Two-way replication: a tag change made on a replica goes to the key workflow of the
 * version it replicates (origin site → this site), so both sides' tag changes of one version
 * are settled in one place and order (activities/tags-sync.ts). Only when this site
 * replicates the bucket back to the origin; otherwise a replica's tags are its own (as AWS
 * without replica modification sync).
 */
function replicaTagsChange(entry: JournalEntry, config: EngineConfig): ReplicationPlan | undefined {
  const marker = readReplicaMarker(entry.userMetadata);
  if (!marker || !(marker.sourceSite in config.sites)) return undefined;
  const here = entry.sourceSite ?? config.sourceSite;
  const origin = marker.sourceSite;
  const originSite = carriedSourceSite(config, origin);
  const candidates = (bucket: string, site: string | undefined) => {
    const rules = rulesOf(config, bucket, site);
    return rules ? selectCandidateDestinations(rules, entry.key, (rule) => siteOfRule(config, rule)) : [];
  };
  const back = candidates(entry.bucket, entry.sourceSite).find((d) => d.site === origin);
  if (!back) return undefined;
  const forth = candidates(back.targetBucket, originSite).find(
    (d) => d.site === here && d.targetBucket === entry.bucket,
  );
  if (!forth) return undefined;
  const task: ReplicationTask = {
    entry: {
      ...taskEntryOf(entry),
      bucket: back.targetBucket,
      versionId: marker.sourceVersionId,
      tagsChangedOn: 'target',
    },
    target: {
      site: here,
      bucket: entry.bucket,
      ruleId: forth.ruleId,
      storageClass: forth.storageClass,
      replicateDeleteMarkers: forth.replicateDeleteMarkers,
    },
  };
  if (originSite !== undefined) task.entry.sourceSite = originSite;
  else delete task.entry.sourceSite;
  return { tasks: [task] };
}

/**
 * Decides what one journal entry must become: one task per destination site, following
 * AWS replication rules (or Backbeat's replicationInfo when the entry carries it). Never
 * blocks on the source: when a tag-filtered rule applies and the tags cannot be read, the
 * candidate destinations are planned with the tags they require (`target.requiredTags`),
 * and the replication checks them itself.
 */
export async function planReplication(
  entry: JournalEntry,
  config: EngineConfig,
  lookupTags: TagsLookup,
): Promise<ReplicationPlan> {
  if (entry.isReplica) {
    const back = entry.operation === 'metadata' ? replicaTagsChange(entry, config) : undefined;
    return back ?? skip('replica', 'the version is a replica (no replication loops)');
  }
  if (entry.operation === 'delete-version')
    return skip('version delete', 'deletes of a specific version are not replicated');
  if (entry.replication && entry.replication.status !== 'PENDING') {
    return skip(
      'replicationInfo not PENDING',
      `replicationInfo.status is ${entry.replication.status}, not PENDING`,
    );
  }

  const bucketConfig = rulesOf(config, entry.bucket, entry.sourceSite);
  let targets: ReplicationTarget[];
  let tagsUnknown: string | undefined;
  if (bucketConfig) {
    let tags = entry.tags;
    if (tags === undefined && needsTagsFor(bucketConfig, entry.key)) {
      if (entry.operation === 'delete-marker') tags = {};
      else {
        const found = await lookupTags(entry);
        if ('tags' in found) tags = found.tags;
        else tagsUnknown = found.unknown;
      }
    }
    const destinations: CandidateDestination[] =
      tagsUnknown === undefined
        ? destinationsFor(config, entry.bucket, { key: entry.key, tags }, entry.sourceSite)
        : selectCandidateDestinations(bucketConfig, entry.key, (rule) => siteOfRule(config, rule));
    targets = destinations.map((d) => {
      const target: ReplicationTarget = {
        site: d.site,
        bucket: d.targetBucket,
        ruleId: d.ruleId,
        storageClass: d.storageClass,
        replicateDeleteMarkers: d.replicateDeleteMarkers,
      };
      if (d.requiredTags) target.requiredTags = d.requiredTags;
      return target;
    });
    const namedSites = entry.replication?.sites;
    if (namedSites && namedSites.length > 0) targets = targets.filter((t) => namedSites.includes(t.site));
  } else if (entry.replication) {
    targets = targetsFromReplicationInfo(entry, config);
  } else {
    return skip(
      'bucket without replication rules',
      `bucket ${entry.bucket} has no replication configuration`,
    );
  }

  if (entry.operation === 'delete-marker') targets = targets.filter((t) => t.replicateDeleteMarkers);
  if (targets.length === 0) return skip('no matching rule', 'no enabled rule matches');
  const task = taskEntryOf(entry);
  const plan: ReplicationPlan = { tasks: targets.map((target) => ({ entry: task, target })) };
  if (tagsUnknown !== undefined) plan.tagsUnknown = tagsUnknown;
  return plan;
}

import type { ReplicationConfiguration, ReplicationRule } from './replication-configuration';
import { bucketOfArn } from '../shared/s3-names';

export interface ReplicationDestination {
  site: string;
  targetBucket: string;
  ruleId: string;
  priority: number;
  storageClass?: string;
  replicateDeleteMarkers: boolean;
  /**
   * The rule's tag filter, when it has one: the activity checks it before copying (when the
   * populator could not read the tags, and for versions copied ahead of their journal entry).
   */
  requiredTags?: Record<string, string>;
}

export const targetBucketName = bucketOfArn;

function ruleTags(rule: ReplicationRule): Array<{ Key: string; Value: string }> {
  return rule.Filter?.Tag ? [rule.Filter.Tag] : (rule.Filter?.And?.Tags ?? []);
}

function rulePrefix(rule: ReplicationRule): string {
  return rule.Filter?.Prefix ?? rule.Filter?.And?.Prefix ?? rule.Prefix ?? '';
}

/** True when some enabled rule filters on tags: the caller must know the object's tags. */
export function needsTags(replication: ReplicationConfiguration): boolean {
  return replication.Rules.some((r) => r.Status === 'Enabled' && ruleTags(r).length > 0);
}

/** True when an enabled rule whose prefix matches the key filters on tags: only then are tags needed. */
export function needsTagsFor(replication: ReplicationConfiguration, key: string): boolean {
  return replication.Rules.some(
    (r) => r.Status === 'Enabled' && ruleTags(r).length > 0 && key.startsWith(rulePrefix(r)),
  );
}

function matches(rule: ReplicationRule, key: string, tags: Record<string, string> | undefined): boolean {
  if (rule.Status !== 'Enabled' || !key.startsWith(rulePrefix(rule))) return false;
  const wanted = ruleTags(rule);
  if (wanted.length === 0) return true;
  if (tags === undefined)
    throw new Error(`rule ${rule.ID ?? '(no ID)'} filters on tags but the object's tags are unknown`);
  return wanted.every((t) => tags[t.Key] === t.Value);
}

/**
 * AWS semantics: enabled rules whose filter matches; per destination site the highest
 * Priority wins (V2). V1 rules (no Filter) all apply and replicate delete markers.
 */
export function selectDestinations(
  replication: ReplicationConfiguration,
  object: { key: string; tags?: Record<string, string> },
  siteOf: (rule: ReplicationRule) => string[],
): ReplicationDestination[] {
  return bestPerDestination(
    replication,
    siteOf,
    (rule) => matches(rule, object.key, object.tags),
    requiredTagsOf,
  );
}

/** A rule's tag filter as a record, when it has one. */
function requiredTagsOf(rule: ReplicationRule): Record<string, string> | undefined {
  const tags = ruleTags(rule);
  return tags.length > 0 ? Object.fromEntries(tags.map((t) => [t.Key, t.Value])) : undefined;
}

/** A destination chosen while the object's tags are unknown. */
export type CandidateDestination = ReplicationDestination;

/**
 * When an object's tags cannot be read: per destination, the highest-priority enabled rule
 * whose prefix matches, tag conditions ignored, with the tags that rule requires. The
 * replication then checks the tags itself (and replicates nothing when they do not match).
 * Approximation: if that rule's tags do not match, AWS would fall back to a lower-priority
 * rule for the same site; here the version is simply not replicated by that rule.
 */
export function selectCandidateDestinations(
  replication: ReplicationConfiguration,
  key: string,
  siteOf: (rule: ReplicationRule) => string[],
): CandidateDestination[] {
  return bestPerDestination(
    replication,
    siteOf,
    (rule) => rule.Status === 'Enabled' && key.startsWith(rulePrefix(rule)),
    requiredTagsOf,
  );
}

function bestPerDestination(
  replication: ReplicationConfiguration,
  siteOf: (rule: ReplicationRule) => string[],
  applies: (rule: ReplicationRule) => boolean,
  requiredTagsOf: (rule: ReplicationRule) => Record<string, string> | undefined = () => undefined,
): CandidateDestination[] {
  const best = new Map<string, CandidateDestination>();
  replication.Rules.forEach((rule, index) => {
    if (!applies(rule)) return;
    const v1 = rule.Filter === undefined;
    const requiredTags = requiredTagsOf(rule);
    for (const site of siteOf(rule)) {
      const candidate: CandidateDestination = {
        site,
        targetBucket: targetBucketName(rule.Destination.Bucket),
        ruleId: rule.ID ?? `rule-${index}`,
        priority: rule.Priority ?? 0,
        storageClass: rule.Destination.StorageClass,
        replicateDeleteMarkers: v1 || rule.DeleteMarkerReplication?.Status === 'Enabled',
        ...(requiredTags ? { requiredTags } : {}),
      };
      const slot = v1 ? `${site}\u0000${candidate.targetBucket}` : site;
      const current = best.get(slot);
      if (!current || candidate.priority > current.priority) best.set(slot, candidate);
    }
  });
  return [...best.values()];
}

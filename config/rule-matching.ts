import type { ReplicationConfiguration, ReplicationRule } from './replication-configuration';

export interface ReplicationDestination {
  site: string;
  targetBucket: string;
  ruleId: string;
  priority: number;
  storageClass?: string;
  replicateDeleteMarkers: boolean;
}

export function targetBucketName(arn: string): string {
  return arn.replace(/^arn:aws:s3:::/, '');
}

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
  const best = new Map<string, ReplicationDestination>();
  replication.Rules.forEach((rule, index) => {
    if (!matches(rule, object.key, object.tags)) return;
    const v1 = rule.Filter === undefined;
    for (const site of siteOf(rule)) {
      const candidate: ReplicationDestination = {
        site,
        targetBucket: targetBucketName(rule.Destination.Bucket),
        ruleId: rule.ID ?? `rule-${index}`,
        priority: rule.Priority ?? 0,
        storageClass: rule.Destination.StorageClass,
        replicateDeleteMarkers: v1 || rule.DeleteMarkerReplication?.Status === 'Enabled',
      };
      const slot = v1 ? `${site}\u0000${candidate.targetBucket}` : site;
      const current = best.get(slot);
      if (!current || candidate.priority > current.priority) best.set(slot, candidate);
    }
  });
  return [...best.values()];
}

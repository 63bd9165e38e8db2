import { rulesOf, siteOfRule, type EngineConfig } from '../config/engine-config';
import { selectCandidateDestinations } from '../config/rule-matching';
import { backfillSequence, type BackfillRequest } from '../shared/backfill';
import type { ReplicationTarget, ReplicationTask } from '../shared/replication-task';
import type { ListedEntry } from '../clients/s3-listing';

export { compareKeys, listVersionsPage, type ListedEntry, type ListingMarker } from '../clients/s3-listing';

export interface BackfillCandidates {
  /** Per key, its tasks oldest first; keys in listing order. */
  byKey: Array<{ key: string; tasks: ReplicationTask[] }>;
  versions: number;
  bytes: number;
  skipped: number;
}

/**
 * What of a page a backfill submits to a site: entries older than `olderThan`, under a rule
 * that sends the key to the site (its tag filter is checked by the copy, as for journal
 * entries whose tags are unknown), delete markers only where the rule replicates them.
 */
export function backfillCandidates(
  entries: readonly ListedEntry[],
  request: BackfillRequest,
  config: Pick<EngineConfig, 'replication' | 'sources' | 'sourceSite' | 'sites' | 'defaultDestinationSite'>,
  backfillWorkflowId: string,
): BackfillCandidates {
  const rules = rulesOf(config, request.bucket, request.sourceSite);
  const olderThan = request.olderThan ? Date.parse(request.olderThan) : undefined;
  const targets = new Map<string, ReplicationTarget | undefined>();
  const targetOf = (key: string): ReplicationTarget | undefined => {
    if (!rules) return undefined;
    if (targets.has(key)) return targets.get(key);
    const found = selectCandidateDestinations(rules, key, (rule) =>
      siteOfRule(config as EngineConfig, rule),
    ).find((d) => d.site === request.site);
    const target: ReplicationTarget | undefined = found && {
      site: found.site,
      bucket: found.targetBucket,
      ruleId: found.ruleId,
      ...(found.storageClass ? { storageClass: found.storageClass } : {}),
      replicateDeleteMarkers: found.replicateDeleteMarkers,
      ...(found.requiredTags ? { requiredTags: found.requiredTags } : {}),
    };
    targets.set(key, target);
    return target;
  };
  const byKey = new Map<string, ReplicationTask[]>();
  let versions = 0;
  let bytes = 0;
  let skipped = 0;
  for (const e of entries) {
    const target = targetOf(e.key);
    if (
      !target ||
      (olderThan !== undefined && e.lastModified.getTime() >= olderThan) ||
      (e.isDeleteMarker && !target.replicateDeleteMarkers)
    ) {
      skipped++;
      continue;
    }
    let tasks = byKey.get(e.key);
    if (!tasks) byKey.set(e.key, (tasks = []));
    tasks.push({
      entry: {
        ...(request.sourceSite !== undefined ? { sourceSite: request.sourceSite } : {}),
        bucket: request.bucket,
        key: e.key,
        versionId: e.versionId,
        operation: e.isDeleteMarker ? 'delete-marker' : 'put',
        size: e.size,
        ...(e.etag ? { etag: e.etag } : {}),
        eventTime: e.lastModified.toISOString(),
        sequence: backfillSequence(e.lastModified),
      },
      target,
      backfill: {
        workflowId: backfillWorkflowId,
        includeFailed: request.includeFailed,
        requestedAt: request.requestedAt,
      },
    });
    versions++;
    bytes += e.size;
  }
  // Listed newest first: submitted oldest first.
  return {
    byKey: [...byKey].map(([key, tasks]) => ({ key, tasks: tasks.reverse() })),
    versions,
    bytes,
    skipped,
  };
}

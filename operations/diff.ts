import { GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { listVersionsPage, type ListedEntry, type ListingMarker } from '../clients/s3-listing';
import { rulesOf, siteOfRule, type EngineConfig } from '../config/engine-config';
import { selectCandidateDestinations } from '../config/rule-matching';
import { readReplicaMarker, type Tag } from '../shared/replica-marker';
import { NULL_VERSION_ID } from '../shared/s3-names';

/** What differs between a source key and its replica at one site. */
export interface DiffFinding {
  kind: 'missing' | 'size-differs' | 'etag-differs' | 'delete-markers-differ' | 'latest-differs';
  site: string;
  bucket: string;
  key: string;
  versionId?: string;
  targetBucket: string;
  targetVersionId?: string;
  detail: string;
}

export interface DiffOptions {
  bucket: string;
  /** The bucket's site when it is not the config's `sourceSite` (`source` is its client). */
  sourceSite?: string;
  site: string;
  prefix: string;
  source: S3Client;
  target: S3Client;
  /** Keys compared at once. */
  concurrency?: number;
  /** Keys compared so far, after each key (for a progress line). */
  onKey?: (keysCompared: number) => void;
}

interface TargetVersion extends ListedEntry {
  sourceVersionId?: string;
}

/** A target version's replica marker (metadata, else tags): which source version it copies. */
async function sourceVersionOf(
  target: S3Client,
  bucket: string,
  e: ListedEntry,
): Promise<string | undefined> {
  const head = await target.send(
    new HeadObjectCommand({ Bucket: bucket, Key: e.key, VersionId: e.versionId }),
  );
  let marker = readReplicaMarker(head.Metadata);
  if (!marker) {
    const tagging = await target.send(
      new GetObjectTaggingCommand({ Bucket: bucket, Key: e.key, VersionId: e.versionId }),
    );
    const tags = (tagging.TagSet ?? []).map((t): Tag => ({ Key: t.Key ?? '', Value: t.Value ?? '' }));
    marker = readReplicaMarker(undefined, tags);
  }
  return marker?.sourceVersionId;
}

/** Every version of one key on the target, newest first, with the source version each replicates. */
async function targetHistory(target: S3Client, bucket: string, key: string): Promise<TargetVersion[]> {
  const found: TargetVersion[] = [];
  let marker: ListingMarker | undefined;
  for (;;) {
    const page = await listVersionsPage(target, { bucket, prefix: key }, marker, 1000);
    found.push(...page.entries.filter((e) => e.key === key));
    // Keys sort after their own prefix: once the listing passed the key, it is done.
    if (!page.next || page.entries.some((e) => e.key !== key)) break;
    marker = page.next;
  }
  await Promise.all(
    found
      .filter((e) => !e.isDeleteMarker)
      .map(async (e) => {
        e.sourceVersionId = await sourceVersionOf(target, bucket, e);
      }),
  );
  return found;
}

/** A multipart ETag (`…-N`) depends on the part size: only single-part ETags can be compared. */
const comparableEtags = (a?: string, b?: string) => !!a && !!b && !a.includes('-') && !b.includes('-');

/** What differs for one key (its source entries newest first). */
export function compareKey(
  site: string,
  bucket: string,
  targetBucket: string,
  replicateDeleteMarkers: boolean,
  source: readonly ListedEntry[],
  target: readonly TargetVersion[],
): DiffFinding[] {
  const findings: DiffFinding[] = [];
  const key = source[0]?.key ?? target[0]?.key ?? '';
  const base = { site, bucket, key, targetBucket };
  const replicas = new Map<string, TargetVersion>();
  for (const t of target)
    if (t.sourceVersionId && !replicas.has(t.sourceVersionId)) replicas.set(t.sourceVersionId, t);
  for (const s of source) {
    if (s.isDeleteMarker) continue;
    const replica = replicas.get(s.versionId);
    if (!replica) {
      // A "null" version overwritten on the source lists once: its replica may carry any sequence.
      findings.push({
        ...base,
        kind: 'missing',
        versionId: s.versionId,
        detail: `no replica of version ${s.versionId} (${s.size} bytes) on s3://${targetBucket}`,
      });
      continue;
    }
    if (replica.size !== s.size)
      findings.push({
        ...base,
        kind: 'size-differs',
        versionId: s.versionId,
        targetVersionId: replica.versionId,
        detail: `replica ${replica.versionId} has ${replica.size} bytes, the source version ${s.size}`,
      });
    else if (comparableEtags(replica.etag, s.etag) && replica.etag !== s.etag)
      findings.push({
        ...base,
        kind: 'etag-differs',
        versionId: s.versionId,
        targetVersionId: replica.versionId,
        detail: `replica ${replica.versionId} has ETag ${replica.etag}, the source version ${s.etag}`,
      });
  }
  if (replicateDeleteMarkers) {
    const sourceMarkers = source.filter((e) => e.isDeleteMarker).length;
    const targetMarkers = target.filter((e) => e.isDeleteMarker).length;
    if (sourceMarkers !== targetMarkers)
      findings.push({
        ...base,
        kind: 'delete-markers-differ',
        detail: `${sourceMarkers} delete markers on the source, ${targetMarkers} on the target`,
      });
  }
  const latest = source[0];
  const targetLatest = target[0];
  if (latest && findings.length === 0) {
    const same = latest.isDeleteMarker
      ? !replicateDeleteMarkers || targetLatest?.isDeleteMarker === true
      : targetLatest?.sourceVersionId === latest.versionId ||
        (latest.versionId === NULL_VERSION_ID && targetLatest?.sourceVersionId === NULL_VERSION_ID);
    if (!same)
      findings.push({
        ...base,
        kind: 'latest-differs',
        versionId: latest.versionId,
        ...(targetLatest ? { targetVersionId: targetLatest.versionId } : {}),
        detail: `the source's latest is ${latest.isDeleteMarker ? 'a delete marker' : `version ${latest.versionId}`}, the target's ${
          targetLatest
            ? targetLatest.isDeleteMarker
              ? 'a delete marker'
              : `replica ${targetLatest.versionId}`
            : 'nothing'
        }`,
      });
  }
  return findings;
}

/**
 * Streams what differs between a source bucket (under a prefix) and its replicas at a site,
 * key by key in listing order: versions without a replica, replicas whose size (or single-part
 * ETag) differs, delete markers missing or extra, and a different latest. Keys no rule sends
 * to the site are left out.
 */
export async function* diffBucket(config: EngineConfig, options: DiffOptions): AsyncGenerator<DiffFinding> {
  const rules = rulesOf(config, options.bucket, options.sourceSite);
  if (!rules) throw new Error(`bucket ${options.bucket} has no replication configuration`);
  const limit = pLimit(options.concurrency ?? 16);
  let compared = 0;
  let marker: ListingMarker | undefined;
  let carry: ListedEntry[] = [];
  for (;;) {
    const page = await listVersionsPage(options.source, options, marker, 1000);
    const entries = [...carry, ...page.entries];
    // The last key of a truncated page may go on in the next one.
    const lastKey = page.next ? entries[entries.length - 1]?.key : undefined;
    carry = lastKey === undefined ? [] : entries.filter((e) => e.key === lastKey);
    const byKey = new Map<string, ListedEntry[]>();
    for (const e of entries) {
      if (e.key === lastKey) continue;
      let list = byKey.get(e.key);
      if (!list) byKey.set(e.key, (list = []));
      list.push(e);
    }
    const results = await Promise.all(
      [...byKey].map(([key, source]) =>
        limit(async () => {
          const destination = selectCandidateDestinations(rules, key, (rule) =>
            siteOfRule(config, rule),
          ).find((d) => d.site === options.site);
          if (!destination) return [];
          source.sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime());
          const target = await targetHistory(options.target, destination.targetBucket, key);
          const found = compareKey(
            options.site,
            options.bucket,
            destination.targetBucket,
            destination.replicateDeleteMarkers,
            source,
            target,
          );
          options.onKey?.(++compared);
          return found;
        }),
      ),
    );
    for (const found of results) yield* found;
    if (!page.next) break;
    marker = page.next;
  }
}

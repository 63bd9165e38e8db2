import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { listHistories, replicaIdentity, type ListedVersion, type ReplicaIdentity } from './ordered-versions';

/**
 * The per-key check of a replicated bucket: every key's ListObjectVersions on the source and
 * on the target, in their true order, each target version mapped to the source version it
 * replicates (its replica marker), compared position by position.
 */

export interface KeyCheckOptions {
  /** Delete markers are expected on the target (the rule replicates them). */
  deleteMarkers: boolean;
  /** Source versions the rules replicate (default: all of them). */
  expectVersion?: (key: string, version: ListedVersion) => boolean;
  /** Keys to check the replica's user metadata of (equal to the source's, marker aside). */
  compareMetadataOf?: (key: string) => boolean;
}

/** One entry of a key's history as printed in failure messages. */
export type HistoryLine = string;

export interface KeyFinding {
  key: string;
  lost: string[];
  duplicated: Array<{ sourceVersionId: string; replicas: number }>;
  reordered: number;
  /** Where the target's order first departs from the source's. */
  firstOutOfOrder?: string;
  extraDeleteMarkers: number;
  missingDeleteMarkers: number;
  /** Target versions that replicate no version the source holds (or carry no marker). */
  unexpected: string[];
  latestMismatch?: string;
  metadataMismatch?: string;
  source: HistoryLine[];
  target: HistoryLine[];
}

export interface BucketCheck {
  keys: number;
  sourceVersions: number;
  sourceDeleteMarkers: number;
  targetVersions: number;
  targetDeleteMarkers: number;
  lost: number;
  duplicated: number;
  reordered: number;
  extraDeleteMarkers: number;
  missingDeleteMarkers: number;
  unexpected: number;
  latestMismatch: number;
  metadataMismatch: number;
  /** Keys with at least one discrepancy, with both sides' histories. */
  findings: KeyFinding[];
}

export interface Sides {
  source: S3Client;
  target: S3Client;
  sourceBucket: string;
  targetBucket: string;
}

/** Longest strictly increasing subsequence length. */
export function longestIncreasingRun(values: number[]): number {
  const tails: number[] = [];
  for (const v of values) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tails[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    tails[lo] = v;
  }
  return tails.length;
}

const short = (id: string) => (id.length > 12 ? id.slice(0, 8) : id);

/** Reads every target version's replica marker (HEAD, and the tag when the metadata has none). */
export async function identifyReplicas(
  s3: S3Client,
  bucket: string,
  histories: Map<string, ListedVersion[]>,
  concurrency = 16,
): Promise<Map<string, ReplicaIdentity>> {
  const limit = pLimit(concurrency);
  const out = new Map<string, ReplicaIdentity>();
  const jobs: Array<Promise<void>> = [];
  for (const [key, list] of histories) {
    for (const v of list) {
      if (v.kind !== 'version') continue;
      jobs.push(
        limit(async () => {
          out.set(`${key}\u0000${v.versionId}`, await replicaIdentity(s3, bucket, key, v.versionId));
        }),
      );
    }
  }
  await Promise.all(jobs);
  return out;
}

export function compareKey(
  key: string,
  source: ListedVersion[],
  target: ListedVersion[],
  identities: Map<string, ReplicaIdentity>,
  sourceMetadata: Map<string, Record<string, string>> | undefined,
  options: KeyCheckOptions,
): KeyFinding {
  const expected = (v: ListedVersion) =>
    v.kind === 'version' && (options.expectVersion ? options.expectVersion(key, v) : true);
  const sourceVersions = source.filter(expected);
  const indexOf = new Map(sourceVersions.map((v, i) => [v.versionId, i]));
  const identity = (v: ListedVersion) => identities.get(`${key}\u0000${v.versionId}`);

  // Target versions → source index (undefined: replicates nothing the source has).
  const targetMapped = target.map((t) => {
    if (t.kind !== 'version') return { entry: t, index: undefined as number | undefined, id: undefined };
    const id = identity(t);
    const index = id?.sourceVersionId === undefined ? undefined : indexOf.get(id.sourceVersionId);
    return { entry: t, index, id };
  });

  const replicas = new Map<string, ReplicaIdentity[]>();
  const unexpected: string[] = [];
  for (const m of targetMapped) {
    if (m.entry.kind !== 'version') continue;
    if (m.index === undefined) {
      unexpected.push(
        `${m.entry.versionId} (${m.id?.sourceVersionId ? `replica of ${m.id.sourceVersionId}, not a source version` : 'no replica marker'})`,
      );
      continue;
    }
    const sid = m.id!.sourceVersionId!;
    replicas.set(sid, [...(replicas.get(sid) ?? []), m.id!]);
  }

  const lost = sourceVersions.filter((v) => !replicas.has(v.versionId)).map((v) => v.versionId);
  const duplicated: KeyFinding['duplicated'] = [];
  for (const [sid, list] of replicas) {
    // A "null" version (unversioned or suspended bucket) is overwritten in place on the
    // source: each overwrite is its own replica; only the same journal sequence twice is a duplicate.
    const distinct = sid === 'null' ? new Set(list.map((r, i) => r.sequence ?? `unknown-${i}`)).size : 1;
    if (list.length > distinct) duplicated.push({ sourceVersionId: sid, replicas: list.length });
  }

  // Order: the first replica of each source version must follow source order.
  const firstSeen = new Set<number>();
  const order: number[] = [];
  for (const m of targetMapped) {
    if (m.index === undefined || firstSeen.has(m.index)) continue;
    firstSeen.add(m.index);
    order.push(m.index);
  }
  const reordered = order.length - longestIncreasingRun(order);
  let firstOutOfOrder: string | undefined;
  for (let i = 1; i < order.length && reordered > 0; i++) {
    if (order[i]! < order[i - 1]!) {
      firstOutOfOrder = `target replica #${i + 1} replicates source version #${order[i]! + 1} (${sourceVersions[order[i]!]!.versionId}) after source version #${order[i - 1]! + 1}`;
      break;
    }
  }

  // Delete markers, by position: after which replicated source version each one comes.
  let extraDeleteMarkers = 0;
  let missingDeleteMarkers = 0;
  {
    // Slots count only source versions that have a replica, so that one lost version is not
    // also reported as a displaced delete marker.
    const replicated = new Set(sourceVersions.map((v) => v.versionId).filter((id) => replicas.has(id)));
    const sourceSlots = new Map<number, number>();
    if (options.deleteMarkers) {
      let slot = -1;
      for (const e of source) {
        if (e.kind === 'version' && replicated.has(e.versionId)) slot = indexOf.get(e.versionId)!;
        if (e.kind === 'delete-marker') sourceSlots.set(slot, (sourceSlots.get(slot) ?? 0) + 1);
      }
    }
    const targetSlots = new Map<number, number>();
    let slot = -1;
    for (const m of targetMapped) {
      if (m.index !== undefined) slot = m.index;
      if (m.entry.kind === 'delete-marker') targetSlots.set(slot, (targetSlots.get(slot) ?? 0) + 1);
    }
    for (const s of new Set([...sourceSlots.keys(), ...targetSlots.keys()])) {
      const diff = (targetSlots.get(s) ?? 0) - (sourceSlots.get(s) ?? 0);
      if (diff > 0) extraDeleteMarkers += diff;
      else missingDeleteMarkers -= diff;
    }
  }

  // Latest: the target's latest replicates the source's latest (or both are delete markers).
  let latestMismatch: string | undefined;
  const relevantSource = source.filter(
    (e) => expected(e) || (options.deleteMarkers && e.kind === 'delete-marker'),
  );
  const sourceLatest = relevantSource.at(-1);
  const targetLatest = targetMapped.at(-1);
  if (sourceLatest && !targetLatest) latestMismatch = 'target has no version';
  else if (!sourceLatest && targetLatest)
    latestMismatch = 'source has nothing to replicate, target has entries';
  else if (sourceLatest && targetLatest) {
    if (sourceLatest.kind === 'delete-marker' && targetLatest.entry.kind !== 'delete-marker') {
      latestMismatch = `source latest is a delete marker, target latest is version ${targetLatest.entry.versionId} (replica of ${targetLatest.id?.sourceVersionId ?? '?'})`;
    } else if (sourceLatest.kind === 'version' && targetLatest.entry.kind === 'delete-marker') {
      latestMismatch = `source latest is version ${sourceLatest.versionId}, target latest is a delete marker`;
    } else if (sourceLatest.kind === 'version') {
      const sid = targetLatest.id?.sourceVersionId;
      if (sid !== sourceLatest.versionId) {
        latestMismatch = `source latest is ${sourceLatest.versionId}, target latest replicates ${sid ?? '(no marker)'}`;
      } else if (
        // Single-part ETags are MD5s of the bytes: comparable across sites.
        sourceLatest.etag &&
        targetLatest.id?.etag &&
        !sourceLatest.etag.includes('-') &&
        !targetLatest.id.etag.includes('-') &&
        sourceLatest.etag !== targetLatest.id.etag
      ) {
        latestMismatch = `latest bytes differ: source ETag ${sourceLatest.etag}, target ETag ${targetLatest.id.etag}`;
      }
    }
  }

  let metadataMismatch: string | undefined;
  if (options.compareMetadataOf?.(key) && sourceMetadata) {
    for (const v of sourceVersions) {
      const want = sourceMetadata.get(v.versionId);
      const got = replicas.get(v.versionId)?.[0]?.userMetadata;
      if (!want || !got) continue;
      const strip = (m: Record<string, string>) =>
        JSON.stringify(
          Object.fromEntries(
            Object.entries(m)
              .filter(([n]) => !n.startsWith('scal-'))
              .sort(([a], [b]) => a.localeCompare(b)),
          ),
        );
      if (strip(want) !== strip(got)) {
        metadataMismatch = `version ${v.versionId}: source metadata ${strip(want).slice(0, 200)}, replica ${strip(got).slice(0, 200)}`;
      }
    }
  }

  const sourceLines = source.map((e) =>
    e.kind === 'delete-marker'
      ? `DM(${short(e.versionId)})`
      : `V(${short(e.versionId)})${expected(e) ? '' : '[not replicated by rule]'}`,
  );
  const targetLines = targetMapped.map((m) =>
    m.entry.kind === 'delete-marker'
      ? `DM(${short(m.entry.versionId)})`
      : `R(${m.id?.sourceVersionId ? short(m.id.sourceVersionId) : '?'})`,
  );
  return {
    key,
    lost,
    duplicated,
    reordered,
    firstOutOfOrder,
    extraDeleteMarkers,
    missingDeleteMarkers,
    unexpected,
    latestMismatch,
    metadataMismatch,
    source: sourceLines,
    target: targetLines,
  };
}

export function hasDiscrepancy(f: KeyFinding): boolean {
  return (
    f.lost.length > 0 ||
    f.duplicated.length > 0 ||
    f.reordered > 0 ||
    f.extraDeleteMarkers > 0 ||
    f.missingDeleteMarkers > 0 ||
    f.unexpected.length > 0 ||
    f.latestMismatch !== undefined ||
    f.metadataMismatch !== undefined
  );
}

/** The full check of one source bucket against its target bucket. */
export async function checkBucket(
  sides: Sides,
  options: KeyCheckOptions,
  prefix?: string,
): Promise<BucketCheck> {
  const [sourceHistories, targetHistories] = await Promise.all([
    listHistories(sides.source, sides.sourceBucket, prefix),
    listHistories(sides.target, sides.targetBucket, prefix),
  ]);
  const identities = await identifyReplicas(sides.target, sides.targetBucket, targetHistories);
  let sourceMetadata: Map<string, Map<string, Record<string, string>>> | undefined;
  if (options.compareMetadataOf) {
    sourceMetadata = new Map();
    const wanted = new Map([...sourceHistories].filter(([key]) => options.compareMetadataOf!(key)));
    const ids = await identifyReplicas(sides.source, sides.sourceBucket, wanted);
    for (const [id, identity] of ids) {
      const [key, versionId] = id.split('\u0000') as [string, string];
      const m = sourceMetadata.get(key) ?? new Map<string, Record<string, string>>();
      m.set(versionId, identity.userMetadata);
      sourceMetadata.set(key, m);
    }
  }
  const result: BucketCheck = {
    keys: 0,
    sourceVersions: 0,
    sourceDeleteMarkers: 0,
    targetVersions: 0,
    targetDeleteMarkers: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    extraDeleteMarkers: 0,
    missingDeleteMarkers: 0,
    unexpected: 0,
    latestMismatch: 0,
    metadataMismatch: 0,
    findings: [],
  };
  const keys = new Set([...sourceHistories.keys(), ...targetHistories.keys()]);
  for (const key of [...keys].sort()) {
    const source = sourceHistories.get(key) ?? [];
    const target = targetHistories.get(key) ?? [];
    result.keys += 1;
    result.sourceVersions += source.filter((e) => e.kind === 'version').length;
    result.sourceDeleteMarkers += source.filter((e) => e.kind === 'delete-marker').length;
    result.targetVersions += target.filter((e) => e.kind === 'version').length;
    result.targetDeleteMarkers += target.filter((e) => e.kind === 'delete-marker').length;
    const f = compareKey(key, source, target, identities, sourceMetadata?.get(key), options);
    result.lost += f.lost.length;
    result.duplicated += f.duplicated.reduce((n, d) => n + d.replicas - 1, 0);
    result.reordered += f.reordered;
    result.extraDeleteMarkers += f.extraDeleteMarkers;
    result.missingDeleteMarkers += f.missingDeleteMarkers;
    result.unexpected += f.unexpected.length;
    result.latestMismatch += f.latestMismatch ? 1 : 0;
    result.metadataMismatch += f.metadataMismatch ? 1 : 0;
    if (hasDiscrepancy(f)) result.findings.push(f);
  }
  return result;
}

/** A few lines per key with a discrepancy: what is wrong and both histories (oldest first). */
export function describeFindings(findings: KeyFinding[], max = 10): string {
  const lines: string[] = [];
  for (const f of findings.slice(0, max)) {
    const some = (items: string[], n = 8) =>
      items.length > n ? `${items.slice(0, n).join(', ')} … (${items.length} in all)` : items.join(', ');
    const what = [
      f.lost.length ? `no replica of ${some(f.lost)}` : '',
      f.duplicated.length
        ? `duplicated ${some(f.duplicated.map((d) => `${d.sourceVersionId}×${d.replicas}`))}`
        : '',
      f.reordered
        ? `${f.reordered} reordered${f.firstOutOfOrder ? ` (first: ${f.firstOutOfOrder})` : ''}`
        : '',
      f.extraDeleteMarkers ? `${f.extraDeleteMarkers} extra delete marker(s)` : '',
      f.missingDeleteMarkers ? `${f.missingDeleteMarkers} missing delete marker(s)` : '',
      f.unexpected.length ? `unexpected target versions ${some(f.unexpected)}` : '',
      f.latestMismatch ? `latest: ${f.latestMismatch}` : '',
      f.metadataMismatch ? `metadata: ${f.metadataMismatch}` : '',
    ].filter(Boolean);
    const clip = (h: string[]) =>
      h.length > 40 ? [...h.slice(0, 10), `… ${h.length - 20} more …`, ...h.slice(-10)] : h;
    lines.push(
      `key ${JSON.stringify(f.key.length > 120 ? `${f.key.slice(0, 60)}…(${f.key.length} chars)` : f.key)}: ${what.join('; ')}`,
    );
    lines.push(`  source (oldest first): [${clip(f.source).join(', ')}]`);
    lines.push(`  target (oldest first): [${clip(f.target).join(', ')}]`);
  }
  if (findings.length > max) lines.push(`… and ${findings.length - max} more keys`);
  return lines.join('\n');
}

import type { JournalOperation } from '../../shared/journal-entry';

/**
 * S3 event names (AWS, MinIO, Ceph RGW), with or without the `s3:` prefix, in three kinds:
 * those that change what replicates (an operation), those that are known but irrelevant to
 * replication (skipped and counted), and unknown names (refused: the journal carries
 * something this engine does not understand, which an operator must see).
 *
 * Sources: AWS "Event notification types", MinIO internal/event/name.go, Ceph RGW
 * rgw_notify_event_type.cc.
 */
export type EventNameKind =
  { kind: 'operation'; operation: JournalOperation } | { kind: 'irrelevant' } | { kind: 'unknown' };

const OPERATIONS: ReadonlyArray<[RegExp, JournalOperation]> = [
  [/^ObjectCreated:(Put|Post|Copy|CompleteMultipartUpload)$/, 'put'],
  // Tags, retention and legal hold change a version's metadata, not its data.
  [/^ObjectCreated:(PutTagging|DeleteTagging|PutRetention|PutLegalHold)$/, 'metadata'],
  [/^ObjectTagging:(Put|Delete)$/, 'metadata'],
  [/^ObjectRemoved:DeleteMarkerCreated$/, 'delete-marker'],
  // Permanent deletes of versions (MinIO's force delete removes them all): never replicated.
  [/^ObjectRemoved:(Delete|DeleteAllVersions)$/, 'delete-version'],
];

const IRRELEVANT: readonly RegExp[] = [
  // Reads, restores, tiering and replication engines' own reports.
  /^ObjectAccessed:[A-Za-z]+$/,
  /^ObjectRestore:[A-Za-z]+$/,
  /^Replication:[A-Za-z]+$/,
  /^ObjectTransition:[A-Za-z]+$/,
  /^ObjectSynced:[A-Za-z]+$/, // Ceph multisite sync
  // Lifecycle actions: AWS does not replicate what lifecycle deletes or transitions.
  /^LifecycleExpiration:[A-Za-z]+$/,
  /^LifecycleDelMarkerExpiration:[A-Za-z]+$/, // MinIO
  /^ObjectLifecycle:(Expiration|Transition):[A-Za-z]+$/, // Ceph
  /^LifecycleTransition$/,
  /^IntelligentTiering$/,
  // MinIO scanner warnings, no-op deletes, bucket events.
  /^Scanner:[A-Za-z]+$/,
  /^ObjectRemoved:NoOP$/,
  /^Bucket(Created|Removed)(:[A-Za-z*]+)?$/,
  // ACLs are not replicated (AWS neither); AWS's test event and lost RRS objects.
  /^ObjectAcl:Put$/,
  /^ReducedRedundancyLostObject$/,
  /^TestEvent$/,
];

export function classifyEventName(eventName: string): EventNameKind {
  const name = eventName.startsWith('s3:') ? eventName.slice(3) : eventName;
  for (const [pattern, operation] of OPERATIONS) {
    if (pattern.test(name)) return { kind: 'operation', operation };
  }
  if (IRRELEVANT.some((pattern) => pattern.test(name))) return { kind: 'irrelevant' };
  return { kind: 'unknown' };
}

/** `s3:ObjectAccessed:Get` whatever the source's spelling, for counts in the logs. */
export function canonicalEventName(eventName: string): string {
  return eventName.startsWith('s3:') ? eventName : `s3:${eventName}`;
}

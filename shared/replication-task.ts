import type { BackfillOrigin } from './backfill';
import type { JournalEntry } from './journal-entry';

/** Where one rule sends a version: a destination site and bucket. */
export interface ReplicationTarget {
  site: string;
  bucket: string;
  ruleId: string;
  storageClass?: string;
  replicateDeleteMarkers: boolean;
  /**
   * The tags the rule requires, when it filters on tags. The activity checks them before it
   * copies: when the populator could not read the version's tags (source unreachable, access
   * denied, version gone), so that one unreadable version never holds up the journal, and for
   * versions it copies ahead of their own journal entry.
   */
  requiredTags?: Record<string, string>;
}

/** `ruleId` of targets that Backbeat's replicationInfo named, rather than a configured rule. */
export const JOURNAL_REPLICATION_INFO_RULE = 'journal-replication-info';

/**
 * What a task carries of its journal entry: only what the activities need, so that queues
 * carried over continue-as-new and signal payloads stay small (user metadata and tags are
 * read from the source version itself).
 */
export type TaskEntry = Pick<
  JournalEntry,
  'bucket' | 'key' | 'versionId' | 'operation' | 'size' | 'etag' | 'eventTime' | 'sequence' | 'sourceSite'
> & {
  /**
   * Two-way replication: a tag change made on the replica (the target) rather than on the
   * version itself; the populator sends it to the version's own key workflow (tags-sync.ts).
   */
  tagsChangedOn?: 'target';
};

/** Where a tag change was made: on the version the rule replicates, or on its replica. */
export type TagsSide = 'source' | 'target';

/** One journal entry to apply to one destination: the payload of the workflow's signal. */
export interface ReplicationTask {
  entry: TaskEntry;
  target: ReplicationTarget;
  /** Set by `replication retry`: bypasses duplicate detection for a version that FAILED. */
  retry?: boolean;
  /**
   * Set on versions a backfill submitted: their outcome is reported to it, and placement may
   * bring over the versions written before the rule (activities/placement.ts).
   */
  backfill?: BackfillOrigin;
  /**
   * A backfill's version the key handled before: queued again (past duplicate detection) so
   * that placement checks it against the target, without `retry`'s insertion below newer ones.
   */
  recheck?: boolean;
  /** A tag change whose wait ended: it is settled on the changes held (tags-sync.ts). */
  tagsForce?: boolean;
  /**
   * A waiting tag change's record of each side's latest change the key workflow held when it
   * was put to wait (journal event times): a wait outlives the events it was settled against.
   */
  tagsHeld?: Partial<Record<TagsSide, string>>;
}

/** The fields of a journal entry a task keeps (see TaskEntry). */
export function taskEntryOf(entry: JournalEntry): TaskEntry {
  const { bucket, key, versionId, operation, size, etag, eventTime, sequence, sourceSite } = entry;
  return {
    ...(sourceSite !== undefined ? { sourceSite } : {}),
    bucket,
    key,
    versionId,
    operation,
    size,
    ...(etag !== undefined ? { etag } : {}),
    eventTime,
    sequence,
  };
}

export type ReplicationStatus = 'PENDING' | 'PROCESSING' | 'COMPLETED' | 'FAILED';

/** Status of one version (or metadata change, or delete marker) at one destination. */
export interface VersionStatus {
  versionId: string;
  operation: JournalEntry['operation'];
  sequence: string;
  status: ReplicationStatus;
  reason?: string;
  attempts: number;
  targetVersionId?: string;
  /** Free text such as "already replicated" or "superseded by a newer version". */
  detail?: string;
  pendingAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** While an attempt failed and the next one waits: when it is due (ISO 8601). */
  nextAttemptAt?: string;
  /** Kept for FAILED versions so that `replication retry` can send them again. */
  task?: ReplicationTask;
  /** Times this version ended FAILED (kept across retries), and when it first did. */
  failures?: number;
  firstFailedAt?: string;
  /** The reason of the last failure, kept once a retry cleared `reason`. */
  lastFailure?: string;
}

/** Settings the workflow needs from the engine config (it cannot read files itself). */
export interface ReplicationSettings {
  maxAttempts: number;
  initialRetryIntervalMs: number;
  maxRetryIntervalMs: number;
  multipartThresholdBytes: number;
  /** Versions up to this size (and metadata, delete markers) run as local activities: fewer history events, no task-queue round trip. 0 disables. */
  localActivityMaxBytes: number;
  continueAsNewAfterVersions: number;
}

export interface ReplicateKeyInput {
  site: string;
  bucket: string;
  key: string;
  settings: ReplicationSettings;
  /** State carried over continue-as-new. */
  carried?: CarriedState;
  /** Carried over continue-as-new: two-way tag changes waiting for the other side's (TagsWaiting). */
  tagsWaiting?: TagsWaiting[];
}

/**
 * A two-way tag change that found both sides changed, held until the other side's event
 * comes (then the later wins) or `until` (epoch ms) passes (then it wins).
 */
export interface TagsWaiting {
  task: ReplicationTask;
  until: number;
}

/** Detail of a two-way tag change that waits for the other side's (activities/tags-sync.ts). */
export const TAGS_WAITING_DETAIL = 'not replicated: tags changed on both sites, waiting for the other change';
/** Detail of a two-way tag conflict that waits a moment for newer changes before it is settled. */
export const TAGS_SETTLE_DETAIL =
  'not replicated: tags changed on both sites: waiting a moment for newer changes before settling';
/** The same, when the changes held are old: newer ones may be held up longer. */
export const TAGS_STALE_DETAIL =
  'not replicated: tags changed on both sites, and the changes held are old: waiting for newer ones';

/** A queued task as continue-as-new carries it: its bucket and key are the workflow's own. */
export type CarriedTask = Omit<ReplicationTask, 'entry'> & { entry: Omit<TaskEntry, 'bucket' | 'key'> };

/**
 * What continue-as-new carries. Queued tasks drop the bucket and key they share with the
 * workflow (keys may be 1 KiB), so a burst of thousands of versions on one key stays far
 * below Temporal's 2 MB payload limit.
 */
export interface CarriedState {
  queue: CarriedTask[];
  versions: VersionStatus[];
  seen: string[];
}

export interface ReplicateKeyState {
  queue: ReplicationTask[];
  versions: VersionStatus[];
  seen: string[];
}

/** A put or delete marker queued in a workflow behind the one being applied: it may come first on the source. */
export interface PendingChange {
  identity: string;
  versionId: string;
  operation: 'put' | 'delete-marker';
  sequence: string;
}

/** A queued change an activity applied (or found applied) ahead of its own journal entry. */
export interface AppliedAhead {
  identity: string;
  targetVersionId?: string;
  detail: string;
}

export { RUN_AS_REGULAR_ACTIVITY } from './copy-plan';

/** What an activity reports for one version it applied. */
export interface ReplicationOutcome {
  /** The task this outcome belongs to (taskIdentity), so that history alone tells what completed. */
  identity?: string;
  targetVersionId?: string;
  bytes: number;
  attempts: number;
  detail?: string;
  /**
   * Changes queued behind this one that come before it on the source: applied with it, in
   * the source's order, so the workflow completes them without running them.
   */
  appliedAhead?: AppliedAhead[];
}

/** Identifies one journal delivery; a second identical delivery is a duplicate. */
export function taskIdentity(task: {
  entry: Pick<TaskEntry, 'versionId' | 'operation' | 'sequence'>;
}): string {
  const { entry } = task;
  return `${entry.versionId}|${entry.operation}|${entry.sequence}`;
}

/** What a completed replication did, from its outcome's detail (docs/DESIGN.md, "Status model"). */
export const REPLICATION_OUTCOMES = ['replicated', 'already_replicated', 'not_replicated'] as const;
export type ReplicationOutcomeLabel = (typeof REPLICATION_OUTCOMES)[number];

/**
 * "already replicated …" (found on the target: a redelivery, a re-run), "not replicated: …"
 * (superseded, gone from the source, a replica, tags that do not match), anything else
 * (no detail, "resumed multipart upload …", "replicated on retry …") wrote the change.
 */
export function outcomeLabel(detail: string | undefined): ReplicationOutcomeLabel {
  const text = (detail ?? '').trimStart().toLowerCase();
  if (text.startsWith('already replicated')) return 'already_replicated';
  if (text.startsWith('not replicated')) return 'not_replicated';
  return 'replicated';
}

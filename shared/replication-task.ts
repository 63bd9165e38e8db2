import type { JournalEntry } from './journal-entry';

/** Where one rule sends a version: a destination site and bucket. */
export interface ReplicationTarget {
  site: string;
  bucket: string;
  ruleId: string;
  storageClass?: string;
  replicateDeleteMarkers: boolean;
}

/** One journal entry to apply to one destination: the payload of the workflow's signal. */
export interface ReplicationTask {
  entry: JournalEntry;
  target: ReplicationTarget;
  /** Set by `replication retry`: bypasses duplicate detection for a version that FAILED. */
  retry?: boolean;
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
  /** Kept for FAILED versions so that `replication retry` can send them again. */
  task?: ReplicationTask;
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
  carried?: ReplicateKeyState;
}

export interface ReplicateKeyState {
  queue: ReplicationTask[];
  versions: VersionStatus[];
  seen: string[];
}

/** What an activity reports for one version it applied. */
export interface ReplicationOutcome {
  targetVersionId?: string;
  bytes: number;
  attempts: number;
  detail?: string;
}

/** Identifies one journal delivery; a second identical delivery is a duplicate. */
export function taskIdentity(task: ReplicationTask): string {
  const { entry } = task;
  return `${entry.versionId}|${entry.operation}|${entry.sequence}`;
}

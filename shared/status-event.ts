import type { ReplicationStatus, ReplicationTask } from './replication-task';

/** One status change of one version at one destination, as published on the status topic. */
export interface StatusEvent {
  bucket: string;
  key: string;
  versionId: string;
  operation: string;
  site: string;
  targetBucket: string;
  status: ReplicationStatus;
  attempt?: number;
  reason?: string;
  detail?: string;
  targetVersionId?: string;
  /** When the journal recorded the change: `at - eventTime` is the replication latency. */
  eventTime?: string;
  at: string;
}

export function statusEvent(
  task: ReplicationTask,
  status: ReplicationStatus,
  extra: Partial<StatusEvent> = {},
): StatusEvent {
  return {
    bucket: task.entry.bucket,
    key: task.entry.key,
    versionId: task.entry.versionId,
    operation: task.entry.operation,
    site: task.target.site,
    targetBucket: task.target.bucket,
    status,
    eventTime: task.entry.eventTime,
    at: new Date().toISOString(),
    ...extra,
  };
}

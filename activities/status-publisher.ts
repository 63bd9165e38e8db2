import type { Producer } from 'kafkajs';
import type { ReplicationStatus, ReplicationTask } from '../shared/replication-task';

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

export interface StatusPublisher {
  publish(events: StatusEvent[]): Promise<void>;
}

/**
 * Gathers the events published within `lingerMs` into one Kafka request: with many
 * replications in flight, one produce call per status change would cost more than the copy.
 */
export function batchingStatusPublisher(
  inner: StatusPublisher,
  lingerMs = 10,
  maxEvents = 500,
): StatusPublisher {
  let pending: Array<{ events: StatusEvent[]; resolve: () => void; reject: (err: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const batch = pending;
    pending = [];
    inner.publish(batch.flatMap((p) => p.events)).then(
      () => batch.forEach((p) => p.resolve()),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  };
  return {
    publish(events) {
      if (events.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        pending.push({ events, resolve, reject });
        if (pending.reduce((n, p) => n + p.events.length, 0) >= maxEvents) {
          clearTimeout(timer);
          flush();
        } else {
          timer ??= setTimeout(flush, lingerMs);
        }
      });
    },
  };
}

/** Publishes to the replication-status Kafka topic, keyed like the journal so a key's events stay ordered. */
export function kafkaStatusPublisher(producer: Producer, topic: string): StatusPublisher {
  return {
    async publish(events) {
      if (events.length === 0) return;
      await producer.send({
        topic,
        acks: 1,
        messages: events.map((event) => ({
          key: `${event.site}/${event.bucket}/${event.key}`,
          value: JSON.stringify(event),
        })),
      });
    },
  };
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

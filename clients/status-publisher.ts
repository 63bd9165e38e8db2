import type { Producer } from 'kafkajs';

export type { StatusEvent } from '../shared/status-event';
import type { StatusEvent } from '../shared/status-event';

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

export { statusEvent } from '../shared/status-event';

/** Kafka topics shared by the stack, the populator, the worker and docker-compose.yml. */
export const DEFAULT_TOPICS = {
  journal: 'crr-journal',
  deadLetter: 'crr-journal-dead-letter',
  status: 'crr-replication-status',
} as const;

export const JOURNAL_PARTITIONS = 8;

/** The journal topic of a source site other than the config's `sourceSite` (its default). */
export function siteJournalTopic(site: string, journalTopic: string = DEFAULT_TOPICS.journal): string {
  return `${journalTopic}-${site}`;
}

/** MinIO notification target id: the bucket notification ARN is arn:minio:sqs::JOURNAL:kafka. */
export const MINIO_JOURNAL_TARGET_ID = 'JOURNAL';
export const MINIO_JOURNAL_QUEUE_ARN = `arn:minio:sqs::${MINIO_JOURNAL_TARGET_ID}:kafka`;

/**
 * A second target to the same topic without MinIO's queue folder: events are sent at once
 * instead of on the queue's 3-second replay tick, but are lost while Kafka is unreachable.
 * Opt-in (`replication setup --journal-arn arn:minio:sqs::JOURNALNOW:kafka`) for buckets
 * that need sub-second lag more than they need the journal to survive a Kafka outage.
 */
export const MINIO_UNQUEUED_JOURNAL_TARGET_ID = 'JOURNALNOW';
export const MINIO_UNQUEUED_JOURNAL_ARN = `arn:minio:sqs::${MINIO_UNQUEUED_JOURNAL_TARGET_ID}:kafka`;

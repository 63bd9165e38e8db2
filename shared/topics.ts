/** Kafka topics shared by the stack, the populator, the worker and docker-compose.yml. */
export const DEFAULT_TOPICS = {
  journal: 'crr-journal',
  deadLetter: 'crr-journal-dead-letter',
  status: 'crr-replication-status',
} as const;

export const JOURNAL_PARTITIONS = 8;

/** MinIO notification target id: the bucket notification ARN is arn:minio:sqs::JOURNAL:kafka. */
export const MINIO_JOURNAL_TARGET_ID = 'JOURNAL';
export const MINIO_JOURNAL_QUEUE_ARN = `arn:minio:sqs::${MINIO_JOURNAL_TARGET_ID}:kafka`;

/**
 * The one typed shape every journal decoder produces (S3 event notifications, Backbeat
 * metadata-log entries, MongoDB change-stream documents). Everything downstream of the
 * decoders (rule matching, workflows, activities) trusts this type.
 */

/**
 * - `put`: a new object version with data (PUT, POST, COPY, CompleteMultipartUpload).
 * - `metadata`: an existing version's metadata or tags changed, data unchanged.
 * - `delete-marker`: a versioned DELETE created a delete marker (its versionId is the marker's).
 * - `delete-version`: a specific version was permanently deleted (never replicated, AWS semantics).
 */
export type JournalOperation = 'put' | 'metadata' | 'delete-marker' | 'delete-version';

export type JournalFormat = 's3-event' | 'backbeat' | 'change-stream';

/** Backbeat's `replicationInfo`, when the journal carries one. */
export interface JournalReplicationInfo {
  /** Overall status written by the source, e.g. PENDING, COMPLETED, FAILED, REPLICA. */
  status: string;
  /** Destination sites named by the entry (backends[].site, or storageClass split on commas). */
  sites: string[];
  /** What must be replicated: DATA and/or METADATA. Without DATA it is a metadata-only update. */
  content: Array<'DATA' | 'METADATA'>;
  destination?: string;
  storageClass?: string;
}

export interface JournalEntry {
  /**
   * The site that wrote it, when it is not the config's `sourceSite` (the populator sets it
   * from the journal topic the entry arrived on).
   */
  sourceSite?: string;
  bucket: string;
  /** The object key, fully decoded (never URL-encoded). */
  key: string;
  /** The version id; the string 'null' for objects written while versioning was off. */
  versionId: string;
  operation: JournalOperation;
  /** Bytes of the version's data; 0 for delete markers; undefined when the journal did not say. */
  size?: number;
  /** ETag without quotes, when known. */
  etag?: string;
  /** ISO 8601 time of the journal event. */
  eventTime: string;
  /**
   * Decimal string of a non-negative integer ordering the events of one key
   * (MinIO/AWS sequencer as an integer, change-stream cluster time, or event time in ns).
   */
  sequence: string;
  contentType?: string;
  /** User metadata with the `x-amz-meta-` prefix removed and names lower-cased. */
  userMetadata?: Record<string, string>;
  tags?: Record<string, string>;
  /** True when the version is itself a replica written by a replication engine (loop guard). */
  isReplica: boolean;
  replication?: JournalReplicationInfo;
  format: JournalFormat;
}

/** A raw Kafka record as the decoders receive it. */
export interface JournalMessage {
  key: Buffer | null;
  value: Buffer | null;
  topic: string;
  partition: number;
  offset: string;
}

/**
 * What decoding one Kafka record gave. `skipped` lists what was deliberately left out
 * (events irrelevant to replication, master keys, internal collections), for the counts in
 * the logs. A refused message names the offending field in `reason` and, when one field is
 * at fault, in `field` (e.g. `s3.object.size`).
 */
export type DecodeResult =
  { ok: true; entries: JournalEntry[]; skipped?: string[] } | { ok: false; reason: string; field?: string };

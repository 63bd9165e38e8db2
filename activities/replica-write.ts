import type { ReplicationTask } from '../shared/replication-task';
import type { Tag } from './replica-metadata';
import { taggingHeader, type SourceVersion } from './source-version';
import type { WriteFence } from './write-fence';

/** What the target version is written with: the source's headers and the marked metadata and tags. */
export interface ReplicaWrite {
  source: SourceVersion;
  metadata: Record<string, string>;
  tags: Tag[];
  /** The write's precondition on the target's latest (write-fence.ts); none when conditional writes are off. */
  fence?: WriteFence;
}

export interface CopiedData {
  targetVersionId?: string;
  /** The replica's ETag as the target answered it (the fence of the next write in the same attempt). */
  etag?: string;
  bytes: number;
  detail?: string;
}

/** The PutObject / CreateMultipartUpload fields of a replica: source headers, marked metadata and tags. */
export function putHeaders(task: ReplicationTask, write: ReplicaWrite) {
  return {
    Bucket: task.target.bucket,
    Key: task.entry.key,
    ...write.source.headers,
    Metadata: write.metadata,
    Tagging: taggingHeader(write.tags),
  };
}

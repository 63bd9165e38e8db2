import type { ReplicationTask } from '../shared/replication-task';
import type { Tag } from './replica-metadata';
import { taggingHeader, type SourceVersion } from './source-version';

/** What the target version is written with: the source's headers and the marked metadata and tags. */
export interface ReplicaWrite {
  source: SourceVersion;
  metadata: Record<string, string>;
  tags: Tag[];
}

export interface CopiedData {
  targetVersionId?: string;
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

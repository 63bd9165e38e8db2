/**
 * What both ways of copying in parts share: listing an upload's parts on the target, and
 * starting a fresh upload once any other upload of the key is abandoned.
 */
import pLimit from 'p-limit';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type Part,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import type { ReplicationTask } from '../shared/replication-task';
import { bareEtag } from '../shared/s3-names';
import { describeSubject, subjectOf } from './errors';
import { putHeaders, type CopiedData, type ReplicaWrite } from './replica-write';
import { fenceFields, type WriteFence } from './write-fence';

/** S3's limit on the parts of one upload. */
export const MAX_PARTS = 10_000;

export async function listAllParts(
  target: S3Client,
  bucket: string,
  key: string,
  uploadId: string,
): Promise<Part[]> {
  const parts: Part[] = [];
  let PartNumberMarker: string | undefined;
  for (;;) {
    const page = await target.send(
      new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker }),
    );
    parts.push(...(page.Parts ?? []));
    if (!page.IsTruncated || !page.NextPartNumberMarker) return parts;
    PartNumberMarker = page.NextPartNumberMarker;
  }
}

/** A new upload of the replica; returns its id. */
export async function createUpload(
  task: ReplicationTask,
  write: ReplicaWrite,
  target: S3Client,
): Promise<string> {
  const { bucket } = task.target;
  const { key } = task.entry;
  // One workflow per key and site serialises copies, so any other upload of this key is abandoned.
  const uploads = await target.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const upload of uploads.Uploads ?? []) {
    if (upload.Key !== key || !upload.UploadId) continue;
    await abortUpload(target, bucket, key, upload.UploadId);
  }
  const created = await target.send(new CreateMultipartUploadCommand(putHeaders(task, write)));
  if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  return created.UploadId;
}

export async function abortUpload(target: S3Client, bucket: string, key: string, uploadId: string) {
  await target.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
}

/**
 * Runs `copy` for each part number, `concurrency` at a time. After a failure no other part
 * starts, and the first failure is thrown once the parts in flight have ended (so nothing is
 * still writing to an upload the caller may abort).
 */
export async function forEachPart(
  partNumbers: number[],
  concurrency: number,
  copy: (partNumber: number) => Promise<void>,
): Promise<void> {
  const limit = pLimit(concurrency);
  let failure: { err: unknown } | undefined;
  await Promise.all(
    partNumbers.map((partNumber) =>
      limit(async () => {
        if (failure) return;
        try {
          await copy(partNumber);
        } catch (err) {
          failure ??= { err };
        }
      }),
    ),
  );
  if (failure) throw failure.err;
}

/**
 * Completes the upload from its parts (in part order). The ETag the target answers, when it
 * is a multipart one, must be `expected`; `reused` says how many parts a resumed upload kept.
 */
export async function completeUpload(
  task: ReplicationTask,
  target: S3Client,
  upload: { uploadId: string; parts: Array<{ PartNumber: number; ETag: string }>; bytes: number },
  expected: string,
  reused: number | undefined,
  fence: WriteFence | undefined,
): Promise<CopiedData> {
  const completed = await target.send(
    new CompleteMultipartUploadCommand({
      Bucket: task.target.bucket,
      Key: task.entry.key,
      UploadId: upload.uploadId,
      MultipartUpload: { Parts: upload.parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
      ...fenceFields(fence),
    }),
  );
  const actual = bareEtag(completed.ETag)?.toLowerCase();
  if (actual && /-\d+$/.test(actual) && actual !== expected) {
    throw new ApplicationFailure(
      `checksum mismatch for ${describeSubject(subjectOf(task))}: target ETag ${actual}, expected ${expected}`,
      'TransientChecksumMismatch',
    );
  }
  return {
    targetVersionId: completed.VersionId,
    etag: completed.ETag,
    bytes: upload.bytes,
    detail:
      reused === undefined
        ? undefined
        : `resumed multipart upload ${upload.uploadId}: reused ${reused} of ${upload.parts.length} parts`,
  };
}

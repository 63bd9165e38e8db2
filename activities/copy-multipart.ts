/**
 * A version's bytes to the target as a multipart upload that survives a crash: parts are
 * ranged GETs piped into UploadPart (memory bounded by part size × concurrency), and the
 * upload id and parts are heartbeated so that the next attempt resumes the same upload.
 */
import type { Readable } from 'node:stream';
import pLimit from 'p-limit';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  UploadPartCommand,
  type Part,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ReplicationTask } from '../shared/replication-task';
import { isUploadGone } from '../clients/s3-errors';
import { describeSubject, replicationFailure, subjectOf } from './errors';
import { hashingStream, multipartEtag } from './hashing-stream';
import { bareEtag, plainMd5Etag } from '../shared/s3-names';
import type { ReplicationContext } from './replication-context';
import { s3VersionId, type SourceVersion } from './source-version';
import { reportProgress } from './heartbeats';
import { putHeaders, type CopiedData, type ReplicaWrite } from './replica-write';

const MAX_PARTS = 10_000;
const MiB = 1024 * 1024;

/** Details heartbeated while a multipart copy runs, so that a retried attempt resumes the upload. */
interface MultipartProgress {
  uploadId: string;
  partSize: number;
  parts: Array<{ PartNumber: number; ETag: string; md5: string }>;
}

function partSizeFor(size: number, configured: number): number {
  if (Math.ceil(size / configured) <= MAX_PARTS) return configured;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
}

async function listAllParts(
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

function partRange(partNumber: number, partSize: number, size: number): { start: number; end: number } {
  const start = (partNumber - 1) * partSize;
  return { start, end: Math.min(start + partSize, size) - 1 };
}

async function readSourceRange(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  start: number,
  end: number,
): Promise<Readable> {
  const ranged = await ctx.source.send(
    new GetObjectCommand({
      Bucket: task.entry.bucket,
      Key: task.entry.key,
      VersionId: s3VersionId(task.entry),
      Range: `bytes=${start}-${end}`,
      IfMatch: source.etag,
    }),
  );
  return ranged.Body as Readable;
}

/** MD5 of a source range, read without sending it anywhere (to check a part found on the target). */
async function md5OfSourceRange(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  start: number,
  end: number,
): Promise<{ md5: string; bytes: number }> {
  const hashed = hashingStream(await readSourceRange(ctx, task, source, start, end));
  for await (const chunk of hashed.stream) void chunk;
  return { md5: hashed.md5Hex(), bytes: hashed.bytes() };
}

/**
 * Resumes the upload a previous attempt heartbeated: every part the target lists is kept
 * when its size matches its range and its ETag is the MD5 of that range of the source (from
 * the heartbeat when this engine recorded it, else read back from the source). Parts
 * uploaded after the last heartbeat that reached Temporal are found this way too, so a
 * worker killed mid-copy costs at most the parts that were in flight.
 */
async function resumeUpload(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  target: S3Client,
  previous: MultipartProgress,
): Promise<MultipartProgress | undefined> {
  const { bucket } = task.target;
  const { key } = task.entry;
  let listed: Part[];
  try {
    listed = await listAllParts(target, bucket, key, previous.uploadId);
  } catch (err) {
    // Only a vanished upload means starting over; an unreachable target fails this attempt
    // (the next one resumes), rather than abandoning the parts already sent.
    if (isUploadGone(err)) return undefined;
    throw err;
  }
  const recorded = new Map(previous.parts.map((p) => [p.PartNumber, p]));
  const partCount = Math.ceil(source.size / previous.partSize);
  const parts: MultipartProgress['parts'] = [];
  for (const part of listed) {
    const number = part.PartNumber ?? 0;
    if (number < 1 || number > partCount) continue;
    const { start, end } = partRange(number, previous.partSize, source.size);
    const etag = plainMd5Etag(part.ETag);
    if (!etag || part.Size !== end - start + 1) continue;
    const known = recorded.get(number);
    const md5 =
      known && bareEtag(known.ETag) === bareEtag(part.ETag)
        ? known.md5
        : (await md5OfSourceRange(ctx, task, source, start, end)).md5;
    if (md5 === etag) parts.push({ PartNumber: number, ETag: part.ETag ?? '', md5 });
  }
  return { uploadId: previous.uploadId, partSize: previous.partSize, parts };
}

async function startUpload(
  ctx: ReplicationContext,
  task: ReplicationTask,
  write: ReplicaWrite,
  target: S3Client,
): Promise<MultipartProgress> {
  const { bucket } = task.target;
  const { key } = task.entry;
  // One workflow per key and site serialises copies, so any other upload of this key is abandoned.
  const uploads = await target.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const upload of uploads.Uploads ?? []) {
    if (upload.Key !== key || !upload.UploadId) continue;
    await target.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }),
    );
  }
  const created = await target.send(new CreateMultipartUploadCommand(putHeaders(task, write)));
  if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  return {
    uploadId: created.UploadId,
    partSize: partSizeFor(write.source.size, ctx.settings.partSizeBytes),
    parts: [],
  };
}

/**
 * Multipart copy with bounded memory (part size × part concurrency bytes in flight at most)
 * that a retried attempt resumes: the upload id and parts are heartbeated, and the target's
 * own list of parts is checked against the source on resume.
 */
export async function copyMultipart(
  ctx: ReplicationContext,
  task: ReplicationTask,
  write: ReplicaWrite,
  target: S3Client,
): Promise<CopiedData> {
  const activity = Context.current();
  const { bucket } = task.target;
  const { key } = task.entry;
  const { source } = write;
  const previous = activity.info.heartbeatDetails as MultipartProgress | undefined;
  const resumed = previous?.uploadId ? await resumeUpload(ctx, task, source, target, previous) : undefined;
  const progress = resumed ?? (await startUpload(ctx, task, write, target));
  const partCount = Math.ceil(source.size / progress.partSize);
  const reused = progress.parts.length;
  const done = new Set(progress.parts.map((p) => p.PartNumber));
  const todo = Array.from({ length: partCount }, (_, i) => i + 1).filter((n) => !done.has(n));
  reportProgress(progress);

  const copyPart = async (partNumber: number) => {
    const { start, end } = partRange(partNumber, progress.partSize, source.size);
    const hashed = hashingStream(await readSourceRange(ctx, task, source, start, end));
    const uploaded = await target.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: progress.uploadId,
        PartNumber: partNumber,
        Body: hashed.stream,
        ContentLength: end - start + 1,
      }),
    );
    const etag = plainMd5Etag(uploaded.ETag);
    if (hashed.bytes() !== end - start + 1 || (etag && etag !== hashed.md5Hex())) {
      throw new ApplicationFailure(
        `part ${partNumber} of ${describeSubject(subjectOf(task))} arrived corrupted`,
        'TransientPartMismatch',
      );
    }
    progress.parts.push({ PartNumber: partNumber, ETag: uploaded.ETag ?? '', md5: hashed.md5Hex() });
    reportProgress(progress);
  };

  try {
    const limit = pLimit(ctx.settings.partConcurrency);
    await Promise.all(todo.map((partNumber) => limit(() => copyPart(partNumber))));
    const parts = [...progress.parts].sort((a, b) => a.PartNumber - b.PartNumber);
    const completed = await target.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: progress.uploadId,
        MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
      }),
    );
    const expected = multipartEtag(parts.map((p) => Buffer.from(p.md5, 'hex')));
    const actual = bareEtag(completed.ETag);
    if (actual && /-\d+$/.test(actual) && actual !== expected) {
      throw new ApplicationFailure(
        `checksum mismatch for ${describeSubject(subjectOf(task))}: target ETag ${actual}, expected ${expected}`,
        'TransientChecksumMismatch',
      );
    }
    return {
      targetVersionId: completed.VersionId,
      bytes: source.size,
      detail: resumed
        ? `resumed multipart upload ${progress.uploadId}: reused ${reused} of ${partCount} parts`
        : undefined,
    };
  } catch (err) {
    const failure = replicationFailure('multipart copy', subjectOf(task), err);
    if (failure.nonRetryable) {
      await target
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: progress.uploadId }))
        .catch(() => undefined);
    }
    throw failure;
  }
}

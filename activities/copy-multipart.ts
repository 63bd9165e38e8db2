/**
 * A version's bytes to the target as a multipart upload that survives a crash: the upload id
 * and parts are heartbeated so that the next attempt resumes the same upload. A version
 * uploaded in parts is copied in those parts, checked against its ETag (copy-source-parts.ts);
 * any other is copied in ranges of the configured part size, each one hashed here.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, UploadPartCommand, type Part, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ReplicationTask } from '../shared/replication-task';
import { isUploadGone } from '../clients/s3-errors';
import { describeSubject, replicationFailure, subjectOf } from './errors';
import { hashingStream, multipartEtag } from './hashing-stream';
import { bareEtag, plainMd5Etag } from '../shared/s3-names';
import type { ReplicationContext } from './replication-context';
import { s3VersionId, type SourceVersion } from './source-version';
import { reportProgress } from './heartbeats';
import type { CopiedData, ReplicaWrite } from './replica-write';
import { isFenceRejection } from './write-fence';
import {
  abortUpload,
  completeUpload,
  createUpload,
  forEachPart,
  listAllParts,
  MAX_PARTS,
} from './multipart-upload';
import {
  copySourceParts,
  sourcePartCount,
  SourcePartsUnverifiable,
  type SourcePartsProgress,
} from './copy-source-parts';

const MiB = 1024 * 1024;

/** Details heartbeated while a copy in ranges runs (no layout: written before there were two kinds). */
export interface MultipartProgress {
  layout?: 'ranges';
  /** The source version the upload holds (one activity may copy several versions of the key). */
  sourceVersionId?: string;
  uploadId: string;
  partSize: number;
  parts: Array<{ PartNumber: number; ETag: string; md5: string }>;
}

function partSizeFor(size: number, configured: number): number {
  if (Math.ceil(size / configured) <= MAX_PARTS) return configured;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
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
  return { ...previous, layout: 'ranges', parts };
}

async function startUpload(
  ctx: ReplicationContext,
  task: ReplicationTask,
  write: ReplicaWrite,
  target: S3Client,
): Promise<MultipartProgress> {
  return {
    layout: 'ranges',
    sourceVersionId: task.entry.versionId,
    uploadId: await createUpload(task, write, target),
    partSize: partSizeFor(write.source.size, ctx.settings.partSizeBytes),
    parts: [],
  };
}

/**
 * Copies in ranges of the configured part size (bounded memory: part size × part concurrency
 * at most), each range hashed and checked against the MD5 the target answers; resumes
 * `previous`, the upload a former attempt heartbeated, checking its parts against the source.
 */
async function copyInRanges(
  ctx: ReplicationContext,
  task: ReplicationTask,
  write: ReplicaWrite,
  target: S3Client,
  previous: MultipartProgress | undefined,
  onUpload: (uploadId: string) => void,
): Promise<CopiedData> {
  const { bucket } = task.target;
  const { key } = task.entry;
  const { source } = write;
  const resumed = previous?.uploadId ? await resumeUpload(ctx, task, source, target, previous) : undefined;
  const progress = resumed ?? (await startUpload(ctx, task, write, target));
  onUpload(progress.uploadId);
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

  await forEachPart(todo, ctx.settings.partConcurrency, copyPart);
  const parts = [...progress.parts].sort((a, b) => a.PartNumber - b.PartNumber);
  const expected = multipartEtag(parts.map((p) => Buffer.from(p.md5, 'hex')));
  const upload = { uploadId: progress.uploadId, parts, bytes: source.size };
  return completeUpload(task, target, upload, expected, resumed ? reused : undefined, write.fence);
}

/**
 * The upload an earlier attempt heartbeated, when it holds this very source version. One
 * activity may copy several versions of the key, and an upload's parts and replica marker are
 * its own version's; an upload heartbeated without its version (before versions were
 * recorded) is not resumed either, and createUpload abandons it.
 */
export function resumableUpload(
  heartbeated: unknown,
  sourceVersionId: string,
): MultipartProgress | SourcePartsProgress | undefined {
  const progress = heartbeated as Partial<MultipartProgress | SourcePartsProgress> | undefined;
  return progress?.uploadId && progress.sourceVersionId === sourceVersionId
    ? (progress as MultipartProgress | SourcePartsProgress)
    : undefined;
}

/**
 * Multipart copy that a retried attempt resumes. A version uploaded in parts goes in the same
 * parts unless that cannot be checked; then, and for any other version, in ranges. A
 * permanent failure abandons the upload; any other leaves it for the next attempt.
 */
export async function copyMultipart(
  ctx: ReplicationContext,
  task: ReplicationTask,
  write: ReplicaWrite,
  target: S3Client,
): Promise<CopiedData> {
  const { bucket } = task.target;
  const { key } = task.entry;
  const previous = resumableUpload(Context.current().info.heartbeatDetails, task.entry.versionId);
  let uploadId: string | undefined;
  const onUpload = (id: string) => (uploadId = id);
  const abandon = async () => {
    if (uploadId) await abortUpload(target, bucket, key, uploadId).catch(() => undefined);
  };
  try {
    const { sourceSite } = ctx;
    const sourceBucket = task.entry.bucket;
    const partCount = ctx.sourcePartsFallbacks.skips(sourceSite, sourceBucket)
      ? undefined
      : sourcePartCount(write.source);
    // An attempt that went on in ranges heartbeated so: its successors resume that upload.
    const inRanges = previous !== undefined && previous.layout !== 'source-parts';
    if (partCount === undefined || inRanges) {
      return await copyInRanges(
        ctx,
        task,
        write,
        target,
        inRanges ? (previous as MultipartProgress) : undefined,
        onUpload,
      );
    }
    try {
      return await copySourceParts(
        ctx,
        task,
        write,
        target,
        partCount,
        previous as SourcePartsProgress | undefined,
        onUpload,
      );
    } catch (err) {
      if (!(err instanceof SourcePartsUnverifiable)) throw err;
      ctx.sourcePartsFallbacks.record(sourceSite, sourceBucket);
      const why = `the source's ${partCount} parts could not be checked against its ETag (${err.message})`;
      ctx.logger.warn(
        { bucket: task.entry.bucket, key, versionId: task.entry.versionId, site: task.target.site },
        `copying in ranges instead (and the bucket's other versions for 10 minutes): ${why}`,
      );
      await abandon();
      uploadId = undefined;
      const copied = await copyInRanges(ctx, task, write, target, undefined, onUpload);
      return { ...copied, detail: copied.detail ?? `copied in ranges: ${why}` };
    }
  } catch (err) {
    if (isFenceRejection(err, write.fence)) {
      // The key changed under the upload: its parts belong to no plan any more.
      await abandon();
      throw err;
    }
    // Before there is an upload, the caller names the failure (a missing bucket, say).
    if (!uploadId) throw err;
    const failure = replicationFailure('multipart copy', subjectOf(task), err);
    if (failure.nonRetryable) await abandon();
    throw failure;
  }
}

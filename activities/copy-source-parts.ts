/**
 * A version uploaded in parts, copied in the same parts: part n of the replica is the
 * source's `GET ?partNumber=n` streamed into UploadPart n. The target answers each part with
 * the MD5 of what it stored, and the MD5 of those MD5s is the source's own ETag exactly when
 * every byte arrived in the source's layout. So the copy is checked end to end against the
 * source before the upload is completed, nothing is hashed here (about 0.4 CPU-s per 256 MiB
 * saved), and the replica keeps the source's ETag, as S3's and MinIO's replication do.
 *
 * When the check cannot be made (a source that does not serve parts, ETags that are not
 * MD5s, a layout that does not add up), the upload is abandoned and the caller copies in
 * ranges, hashing each one (copy-multipart.ts).
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import type { ReplicationTask } from '../shared/replication-task';
import { errorCode, isUploadGone, statusCode } from '../clients/s3-errors';
import { describeSubject, subjectOf } from './errors';
import { countingStream, hashingStream, multipartEtag } from './hashing-stream';
import { bareEtag, plainMd5Etag } from '../shared/s3-names';
import type { ReplicationContext } from './replication-context';
import { s3VersionId, type SourceVersion } from './source-version';
import { reportProgress } from './heartbeats';
import type { CopiedData, ReplicaWrite } from './replica-write';
import { completeUpload, createUpload, forEachPart, listAllParts, MAX_PARTS } from './multipart-upload';

/** Heartbeated while the source's parts are copied, so that a retried attempt resumes the upload. */
export interface SourcePartsProgress {
  layout: 'source-parts';
  /** The source version the upload holds (one activity may copy several versions of the key). */
  sourceVersionId: string;
  uploadId: string;
  partCount: number;
  /** Each part as the target acknowledged it, with the source byte range it holds. */
  parts: Array<{ PartNumber: number; ETag: string; start: number; size: number }>;
}

/** The copy cannot be checked against the source's ETag; the caller copies in ranges instead. */
export class SourcePartsUnverifiable extends Error {}

/**
 * Source buckets whose last copy in parts could not be checked. A bucket whose ETags are not
 * MD5s of the bytes (some servers' encryption) would otherwise cost every large version two
 * copies; so, for a while after a failed check, its versions go straight to ranges. A single
 * damaged transfer costs no more than that: ranges are as safe, only hashed here.
 */
export class SourcePartsFallbacks {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly forMs = 10 * 60_000,
    private readonly maxBuckets = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether versions of this bucket go straight to ranges. */
  skips(site: string, bucket: string): boolean {
    const id = `${site}/${bucket}`;
    const until = this.until.get(id);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(id);
    return false;
  }

  record(site: string, bucket: string): void {
    const id = `${site}/${bucket}`;
    this.until.delete(id);
    if (this.until.size >= this.maxBuckets) this.until.delete(this.until.keys().next().value!);
    this.until.set(id, this.now() + this.forMs);
  }
}

/**
 * The number of parts the source was uploaded in, when its ETag can check a copy made in
 * them: an S3 multipart ETag (`<md5 of the parts' md5s>-<parts>`), not SSE-KMS (whose ETags
 * are not MD5s).
 */
export function sourcePartCount(source: SourceVersion): number | undefined {
  if (source.encryption?.startsWith('aws:kms')) return undefined;
  const match = /^[0-9a-f]{32}-(\d+)$/i.exec(bareEtag(source.etag) ?? '');
  const count = match ? Number(match[1]) : 0;
  return count >= 1 && count <= MAX_PARTS ? count : undefined;
}

/** A source that refuses part GETs (or ranges) cannot be copied in its parts. */
function refusesParts(err: unknown): boolean {
  const code = errorCode(err);
  const status = statusCode(err);
  return (
    ['InvalidArgument', 'InvalidPartNumber', 'InvalidRange', 'NotImplemented'].includes(code) ||
    status === 416 ||
    status === 501
  );
}

/** `bytes 0-99/1000` → where the part starts and the object's size. */
function parseContentRange(range: string | undefined): { start: number; total: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(range ?? '');
  return match ? { start: Number(match[1]), total: Number(match[3]) } : undefined;
}

/** Part `partNumber` of the source version as a stream, with the byte range it holds. */
async function readSourcePart(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  partNumber: number,
  partCount: number,
): Promise<{ body: Readable; start: number; size: number }> {
  let got;
  try {
    got = await ctx.source.send(
      new GetObjectCommand({
        Bucket: task.entry.bucket,
        Key: task.entry.key,
        VersionId: s3VersionId(task.entry),
        PartNumber: partNumber,
        IfMatch: source.etag,
      }),
    );
  } catch (err) {
    if (refusesParts(err)) {
      throw new SourcePartsUnverifiable(`the source refused part ${partNumber}: ${errorCode(err)}`);
    }
    throw err;
  }
  const body = got.Body as Readable;
  const range = parseContentRange(got.ContentRange);
  const size = got.ContentLength;
  if (
    !range ||
    range.total !== source.size ||
    (got.PartsCount ?? partCount) !== partCount ||
    size === undefined
  ) {
    body.destroy();
    throw new SourcePartsUnverifiable(
      `the source did not serve part ${partNumber} of ${partCount} as a part (Content-Range ${got.ContentRange ?? 'none'}, ${got.PartsCount ?? 'no'} parts)`,
    );
  }
  return { body, start: range.start, size };
}

/**
 * Resumes the upload a previous attempt heartbeated: a part the target lists is kept when it
 * is as that attempt recorded it, or, uploaded after its last heartbeat, when its ETag is the
 * MD5 of the source's part (read back and hashed).
 */
async function resumeUpload(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  target: S3Client,
  previous: SourcePartsProgress,
): Promise<SourcePartsProgress | undefined> {
  let listed;
  try {
    listed = await listAllParts(target, task.target.bucket, task.entry.key, previous.uploadId);
  } catch (err) {
    // Only a vanished upload means starting over; an unreachable target fails this attempt.
    if (isUploadGone(err)) return undefined;
    throw err;
  }
  const recorded = new Map(previous.parts.map((p) => [p.PartNumber, p]));
  const parts: SourcePartsProgress['parts'] = [];
  for (const part of listed) {
    const partNumber = part.PartNumber ?? 0;
    if (partNumber < 1 || partNumber > previous.partCount) continue;
    const known = recorded.get(partNumber);
    if (known && bareEtag(known.ETag) === bareEtag(part.ETag) && part.Size === known.size) {
      parts.push(known);
      continue;
    }
    const etag = plainMd5Etag(part.ETag);
    if (!etag) continue;
    const read = await readSourcePart(ctx, task, source, partNumber, previous.partCount);
    if (read.size !== part.Size) {
      read.body.destroy();
      continue;
    }
    const hashed = hashingStream(read.body);
    for await (const chunk of hashed.stream) void chunk;
    if (hashed.md5Hex() === etag && hashed.bytes() === read.size) {
      parts.push({ PartNumber: partNumber, ETag: part.ETag ?? '', start: read.start, size: read.size });
    }
  }
  return { ...previous, parts };
}

/**
 * Copies the version in its `partCount` source parts (resuming `previous` when it is an
 * upload of this kind), checked against the source's ETag before completion.
 * Throws SourcePartsUnverifiable, with the upload left for the caller to abort, when that
 * check cannot be made or fails.
 */
export async function copySourceParts(
  ctx: ReplicationContext,
  task: ReplicationTask,
  write: ReplicaWrite,
  target: S3Client,
  partCount: number,
  previous: SourcePartsProgress | undefined,
  onUpload: (uploadId: string) => void,
): Promise<CopiedData> {
  const { bucket } = task.target;
  const { key } = task.entry;
  const { source } = write;
  const resumed =
    previous && previous.partCount === partCount
      ? await resumeUpload(ctx, task, source, target, previous)
      : undefined;
  const progress: SourcePartsProgress = resumed ?? {
    layout: 'source-parts',
    sourceVersionId: task.entry.versionId,
    uploadId: await createUpload(task, write, target),
    partCount,
    parts: [],
  };
  onUpload(progress.uploadId);
  const reused = progress.parts.length;
  const done = new Set(progress.parts.map((p) => p.PartNumber));
  reportProgress(progress);

  const copyPart = async (partNumber: number) => {
    const { body, start, size } = await readSourcePart(ctx, task, source, partNumber, partCount);
    const counted = countingStream(body);
    const uploaded = await target.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: progress.uploadId,
        PartNumber: partNumber,
        Body: counted.stream,
        ContentLength: size,
      }),
    );
    if (counted.bytes() !== size) {
      throw new ApplicationFailure(
        `part ${partNumber} of ${describeSubject(subjectOf(task))} arrived short: ${counted.bytes()} of ${size} bytes`,
        'TransientPartMismatch',
      );
    }
    if (!plainMd5Etag(uploaded.ETag)) {
      throw new SourcePartsUnverifiable(`the target's ETag of part ${partNumber} is not an MD5`);
    }
    progress.parts.push({ PartNumber: partNumber, ETag: uploaded.ETag ?? '', start, size });
    reportProgress(progress);
  };

  const todo = Array.from({ length: partCount }, (_, i) => i + 1).filter((n) => !done.has(n));
  await forEachPart(todo, ctx.settings.partConcurrency, copyPart);

  const parts = [...progress.parts].sort((a, b) => a.PartNumber - b.PartNumber);
  let next = 0;
  for (const part of parts) {
    if (part.start !== next)
      throw new SourcePartsUnverifiable(`part ${part.PartNumber} starts at byte ${part.start}, not ${next}`);
    next += part.size;
  }
  if (next !== source.size)
    throw new SourcePartsUnverifiable(`the parts hold ${next} of ${source.size} bytes`);
  const expected = bareEtag(source.etag)!.toLowerCase();
  const stored = multipartEtag(parts.map((p) => Buffer.from(plainMd5Etag(p.ETag)!, 'hex')));
  if (stored !== expected) {
    throw new SourcePartsUnverifiable(`the target's parts give ETag ${stored}, the source's is ${expected}`);
  }
  const upload = { uploadId: progress.uploadId, parts, bytes: source.size };
  return completeUpload(task, target, upload, expected, resumed ? reused : undefined, write.fence);
}

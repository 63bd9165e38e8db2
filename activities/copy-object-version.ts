import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type GetObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import { describeSubject, replicationFailure, subjectOf } from './errors';
import { bareEtag, countingStream, hashingStream, multipartEtag, plainMd5Etag } from './hashing-stream';
import { compareSequences, replicaMetadata } from './replica-metadata';
import { findReplicaOf, headTargetLatest } from './target-state';
import type { ReplicationContext } from './replication-context';

const MAX_PARTS = 10_000;
const MiB = 1024 * 1024;

interface SourceVersion {
  size: number;
  etag?: string;
  headers: {
    ContentType?: string;
    CacheControl?: string;
    ContentDisposition?: string;
    ContentEncoding?: string;
    ContentLanguage?: string;
    Expires?: Date;
  };
  userMetadata?: Record<string, string>;
  tagging?: string;
}

/** Details heartbeated after each part, so that a retried attempt resumes the upload. */
interface MultipartProgress {
  uploadId: string;
  partSize: number;
  parts: Array<{ PartNumber: number; ETag: string; md5: string }>;
}

/** A NoSuchUpload answer: the heartbeated upload was aborted or completed, so start over. */
function uploadIsGone(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchUpload' || e?.Code === 'NoSuchUpload' || e?.$metadata?.httpStatusCode === 404;
}

async function describeSource(
  ctx: ReplicationContext,
  task: ReplicationTask,
  response: GetObjectCommandOutput,
): Promise<SourceVersion> {
  let tagging: string | undefined;
  if ((response.TagCount ?? 0) > 0) {
    const tags = await ctx.source.send(
      new GetObjectTaggingCommand({
        Bucket: task.entry.bucket,
        Key: task.entry.key,
        VersionId: sourceVersionId(task),
      }),
    );
    tagging = new URLSearchParams(
      (tags.TagSet ?? []).map((t): [string, string] => [t.Key ?? '', t.Value ?? '']),
    ).toString();
  }
  return {
    size: response.ContentLength ?? 0,
    etag: response.ETag,
    headers: {
      ContentType: response.ContentType,
      CacheControl: response.CacheControl,
      ContentDisposition: response.ContentDisposition,
      ContentEncoding: response.ContentEncoding,
      ContentLanguage: response.ContentLanguage,
      Expires: response.Expires,
    },
    userMetadata: response.Metadata,
    tagging,
  };
}

function sourceVersionId(task: ReplicationTask): string | undefined {
  return task.entry.versionId === 'null' ? undefined : task.entry.versionId;
}

/**
 * Copies one source version to the target by streaming (never through Temporal), with its
 * metadata and tags, marked as a replica. Idempotent: a version already replicated is not
 * copied again, and an older version never stays the target's latest.
 */
export async function copyObjectVersion(
  ctx: ReplicationContext,
  task: ReplicationTask,
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const info = Context.current().info;
  const target = ctx.targetClient(task.target.site);
  const { bucket: targetBucket } = task.target;
  const { key } = task.entry;

  let latest;
  try {
    latest = await headTargetLatest(target, targetBucket, key);
  } catch (err) {
    throw replicationFailure('reading the target', subject, err);
  }
  if (latest.kind === 'version' && latest.sourceVersionId === task.entry.versionId) {
    return {
      targetVersionId: latest.versionId,
      bytes: 0,
      attempts: info.attempt,
      detail: 'already replicated',
    };
  }
  const newerOnTarget =
    latest.kind === 'version' &&
    latest.sequence !== undefined &&
    compareSequences(latest.sequence, task.entry.sequence) > 0
      ? latest
      : undefined;
  if (newerOnTarget) {
    // A late duplicate of an older version: it may be on the target already, below the latest.
    const replica = await findReplicaOf(target, targetBucket, key, task.entry.versionId).catch(
      (err: unknown) => {
        throw replicationFailure('reading the target versions', subject, err);
      },
    );
    if (replica)
      return { targetVersionId: replica, bytes: 0, attempts: info.attempt, detail: 'already replicated' };
  }

  let response: GetObjectCommandOutput;
  try {
    response = await ctx.source.send(
      new GetObjectCommand({ Bucket: task.entry.bucket, Key: key, VersionId: sourceVersionId(task) }),
    );
  } catch (err) {
    throw replicationFailure('reading the source version', subject, err);
  }

  let outcome: ReplicationOutcome;
  try {
    const source = await describeSource(ctx, task, response);
    if (source.size > ctx.settings.multipartThresholdBytes) {
      // Parts are read with ranged GETs, so the whole-object stream is not needed.
      (response.Body as Readable | undefined)?.destroy();
      outcome = await copyMultipart(ctx, task, source, target);
    } else {
      outcome = await copySinglePut(ctx, task, source, response.Body as Readable, target);
    }
  } catch (err) {
    (response.Body as Readable | undefined)?.destroy();
    throw replicationFailure('copying data', subject, err);
  }

  if (newerOnTarget?.versionId) {
    // A late older version just became the target's latest: put the newer replica back on top.
    try {
      await target.send(
        new CopyObjectCommand({
          Bucket: targetBucket,
          Key: key,
          CopySource: `${targetBucket}/${encodeURIComponent(key)}?versionId=${encodeURIComponent(newerOnTarget.versionId)}`,
          MetadataDirective: 'COPY',
          TaggingDirective: 'COPY',
        }),
      );
    } catch (err) {
      throw replicationFailure('restoring the newer version as latest', subject, err);
    }
    outcome.detail = `replicated after newer source version ${newerOnTarget.sourceVersionId}, which was restored as latest`;
  }
  return outcome;
}

function putHeaders(task: ReplicationTask, source: SourceVersion, ctx: ReplicationContext) {
  return {
    Bucket: task.target.bucket,
    Key: task.entry.key,
    ...source.headers,
    Metadata: replicaMetadata(source.userMetadata, {
      sourceVersionId: task.entry.versionId,
      sequence: task.entry.sequence,
      sourceSite: ctx.sourceSite,
    }),
    Tagging: source.tagging,
    StorageClass: undefined,
  };
}

async function copySinglePut(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  body: Readable,
  target: S3Client,
): Promise<ReplicationOutcome> {
  const attempt = Context.current().info.attempt;
  const sourceMd5 = plainMd5Etag(source.etag);
  // With Content-MD5 the target itself rejects bytes that differ from the source's MD5
  // (BadDigest), so hashing them here as well would only spend CPU (~0.5 s per 256 MiB).
  // Without it (multipart or encrypted sources) the streamed bytes are hashed and compared.
  const hashed = sourceMd5 ? undefined : hashingStream(body);
  const streamed = hashed ?? countingStream(body);
  const expectedMd5 = () => sourceMd5 ?? hashed!.md5Hex();
  const put = await target.send(
    new PutObjectCommand({
      ...putHeaders(task, source, ctx),
      Body: streamed.stream,
      ContentLength: source.size,
      ContentMD5: sourceMd5 ? Buffer.from(sourceMd5, 'hex').toString('base64') : undefined,
    }),
  );
  if (streamed.bytes() !== source.size) {
    throw new ApplicationFailure(
      `size mismatch for ${describeSubject(subjectOf(task))}: streamed ${streamed.bytes()} of ${source.size} bytes`,
      'TransientSizeMismatch',
    );
  }
  const targetEtag = plainMd5Etag(put.ETag);
  if (targetEtag && targetEtag !== expectedMd5()) {
    throw new ApplicationFailure(
      `checksum mismatch for ${describeSubject(subjectOf(task))}: target ETag ${targetEtag}, expected MD5 ${expectedMd5()}`,
      'TransientChecksumMismatch',
    );
  }
  return { targetVersionId: put.VersionId, bytes: source.size, attempts: attempt };
}

function partSizeFor(size: number, configured: number): number {
  if (Math.ceil(size / configured) <= MAX_PARTS) return configured;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
}

async function resumeOrStartUpload(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  target: S3Client,
): Promise<MultipartProgress & { resumed: boolean }> {
  const { bucket } = task.target;
  const { key } = task.entry;
  const previous = Context.current().info.heartbeatDetails as MultipartProgress | undefined;
  if (previous?.uploadId) {
    try {
      const listed = await target.send(
        new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: previous.uploadId }),
      );
      const onServer = new Map((listed.Parts ?? []).map((p) => [p.PartNumber, bareEtag(p.ETag)]));
      return {
        ...previous,
        parts: previous.parts.filter((p) => onServer.get(p.PartNumber) === bareEtag(p.ETag)),
        resumed: true,
      };
    } catch (err) {
      // Only a vanished upload means starting over; an unreachable target fails this attempt
      // (the next one resumes), rather than abandoning the parts already sent.
      if (!uploadIsGone(err)) throw err;
    }
  }
  // One workflow per key and site serialises copies, so any other upload of this key is abandoned.
  const uploads = await target.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const upload of uploads.Uploads ?? []) {
    if (upload.Key !== key || !upload.UploadId) continue;
    await target.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }),
    );
  }
  const created = await target.send(new CreateMultipartUploadCommand(putHeaders(task, source, ctx)));
  if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  return {
    uploadId: created.UploadId,
    partSize: partSizeFor(source.size, ctx.settings.partSizeBytes),
    parts: [],
    resumed: false,
  };
}

/**
 * Multipart copy with bounded memory (parts stream through, part size × part concurrency
 * bytes in flight at most) that a retried attempt resumes from the heartbeated parts.
 */
async function copyMultipart(
  ctx: ReplicationContext,
  task: ReplicationTask,
  source: SourceVersion,
  target: S3Client,
): Promise<ReplicationOutcome> {
  const activity = Context.current();
  const { bucket } = task.target;
  const { key } = task.entry;
  const { resumed, ...progress } = await resumeOrStartUpload(ctx, task, source, target);
  const partCount = Math.ceil(source.size / progress.partSize);
  const done = new Set(progress.parts.map((p) => p.PartNumber));
  const resumedDetail = resumed
    ? `resumed multipart upload ${progress.uploadId} with ${done.size} of ${partCount} parts already sent`
    : undefined;
  const todo = Array.from({ length: partCount }, (_, i) => i + 1).filter((n) => !done.has(n));
  activity.heartbeat(progress);

  const copyPart = async (partNumber: number) => {
    const start = (partNumber - 1) * progress.partSize;
    const end = Math.min(start + progress.partSize, source.size) - 1;
    const ranged = await ctx.source.send(
      new GetObjectCommand({
        Bucket: task.entry.bucket,
        Key: key,
        VersionId: sourceVersionId(task),
        Range: `bytes=${start}-${end}`,
        IfMatch: source.etag,
      }),
    );
    const hashed = hashingStream(ranged.Body as Readable);
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
    activity.heartbeat(progress);
  };

  try {
    const queue = [...todo];
    const workers = Array.from({ length: Math.min(ctx.settings.partConcurrency, queue.length) }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await copyPart(next);
    });
    await Promise.all(workers);
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
      attempts: activity.info.attempt,
      detail: resumedDetail,
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

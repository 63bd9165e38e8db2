/** A version's bytes to the target in one streaming PUT: never through Temporal, memory bounded by the socket. */
import type { Readable } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import type { ReplicationTask } from '../shared/replication-task';
import { plainMd5Etag } from '../shared/s3-names';
import { describeSubject, subjectOf } from './errors';
import { countingStream, hashingStream } from './hashing-stream';
import { putHeaders, type CopiedData, type ReplicaWrite } from './replica-write';
import { fenceFields } from './write-fence';

/** One streaming PUT, verified by the target through Content-MD5 or by hashing the bytes. */
export async function copySinglePut(
  task: ReplicationTask,
  write: ReplicaWrite,
  body: Readable,
  target: S3Client,
): Promise<CopiedData> {
  const { source } = write;
  const sourceMd5 = plainMd5Etag(source.etag);
  // With Content-MD5 the target itself rejects bytes that differ from the source's MD5
  // (BadDigest), so hashing them here as well would only spend CPU (~0.5 s per 256 MiB).
  // Without it (multipart or encrypted sources) the streamed bytes are hashed and compared.
  const hashed = sourceMd5 ? undefined : hashingStream(body);
  const streamed = hashed ?? countingStream(body);
  const expectedMd5 = () => sourceMd5 ?? hashed!.md5Hex();
  const put = await target.send(
    new PutObjectCommand({
      ...putHeaders(task, write),
      ...fenceFields(write.fence),
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
  return { targetVersionId: put.VersionId, etag: put.ETag, bytes: source.size };
}

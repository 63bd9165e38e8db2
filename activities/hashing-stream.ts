import { createHash } from 'node:crypto';
import { Transform, pipeline, type Readable } from 'node:stream';

/** Passes bytes through unchanged while computing their MD5 and count, for integrity checks. */
export interface HashedStream {
  stream: Readable;
  md5Hex(): string;
  md5Bytes(): Buffer;
  bytes(): number;
}

/** Passes bytes through unchanged while counting them. */
export interface CountedStream {
  stream: Readable;
  bytes(): number;
}

export function hashingStream(source: Readable): HashedStream {
  const hash = createHash('md5');
  let digest: Buffer | undefined;
  const { stream, bytes } = countingStream(source, (chunk) => hash.update(chunk));
  const finalDigest = () => (digest ??= hash.digest());
  return {
    stream,
    md5Hex: () => finalDigest().toString('hex'),
    md5Bytes: finalDigest,
    bytes,
  };
}

export function countingStream(source: Readable, onChunk?: (chunk: Buffer) => void): CountedStream {
  let count = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onChunk?.(chunk);
      count += chunk.length;
      callback(null, chunk);
    },
  });
  // pipeline destroys both sides on error, so a failed upload never leaks the source socket.
  pipeline(source, tap, () => undefined);
  return { stream: tap, bytes: () => count };
}

/** The ETag S3 computes for a multipart upload: MD5 of the parts' MD5s, dash, part count. */
export function multipartEtag(partMd5s: Buffer[]): string {
  return `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
}

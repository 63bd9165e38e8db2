import {
  CompleteMultipartUploadCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';

/**
 * An S3 client that behaves like `s3` and, after each PutObject or CompleteMultipartUpload
 * succeeds (a new version either way; a completion's input has no ContentLength), calls
 * `onPut` with the request and the answer before returning: how the bench hooks a journal writer or a
 * copier onto the workload generators without changing them.
 */
export function tapPuts(
  s3: S3Client,
  onPut: (input: PutObjectCommandInput, output: { VersionId?: string; ETag?: string }) => unknown,
): S3Client {
  const send = s3.send.bind(s3) as (command: unknown) => Promise<unknown>;
  const tapped = Object.create(s3) as S3Client;
  tapped.send = (async (command: unknown) => {
    const out = (await send(command)) as { VersionId?: string; ETag?: string };
    if (command instanceof PutObjectCommand) await onPut(command.input, out);
    if (command instanceof CompleteMultipartUploadCommand) {
      await onPut({ Bucket: command.input.Bucket, Key: command.input.Key }, out);
    }
    return out;
  }) as S3Client['send'];
  return tapped;
}

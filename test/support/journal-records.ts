import {
  CreateBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type PutObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { StackInfo } from '../../stack/stack';
import { kafkaFor, uniqueBucket } from './stack';

export interface JournalRecord {
  key: Buffer;
  value: Buffer;
}

/** The journal record the source site published for one version of `bucket/key`, read back from Kafka. */
export async function journalRecordOf(
  stack: StackInfo,
  bucket: string,
  key: string,
  versionId: string,
): Promise<JournalRecord> {
  const consumer = kafkaFor(stack).consumer({ groupId: `reader-${Date.now()}-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: stack.topics.journal, fromBeginning: true });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no journal record for ${key} ${versionId}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          if (message.key?.toString() !== `${bucket}/${key}`) return;
          if (!message.value?.toString().includes(versionId)) return;
          clearTimeout(timer);
          resolve({ key: message.key, value: message.value });
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Produces a journal record again, as a redelivery would. */
export async function redeliver(stack: StackInfo, record: JournalRecord): Promise<void> {
  const producer = kafkaFor(stack).producer();
  await producer.connect();
  await producer.send({ topic: stack.topics.journal, messages: [record] });
  await producer.disconnect();
}

/** Produces raw messages to a topic of the stack (the journal by default). */
export async function produceTo(
  stack: StackInfo,
  messages: Array<{ key: string; value: string }>,
  topic = stack.topics.journal,
): Promise<void> {
  const producer = kafkaFor(stack).producer();
  await producer.connect();
  await producer.send({ topic, messages });
  await producer.disconnect();
}

/** A versioned bucket on the source site with no journal notification: only the entries a test produces describe it. */
export async function quietVersionedObject(
  source: S3Client,
  key: string,
  body: string | Buffer,
): Promise<{ bucket: string; put: PutObjectCommandOutput }> {
  const bucket = uniqueBucket('journal-quiet');
  await source.send(new CreateBucketCommand({ Bucket: bucket }));
  await source.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const put = await source.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/plain' }),
  );
  return { bucket, put };
}

/**
 * Backbeat's stored object metadata for a version, naming its destination itself
 * (replicationInfo); `size` undefined leaves `content-length` out, as a journal may.
 */
export function backbeatObjectMetadata(
  key: string,
  put: PutObjectCommandOutput,
  size: number | undefined,
  destination: { site: string; bucket: string },
) {
  return {
    key,
    versionId: put.VersionId,
    ...(size === undefined ? {} : { 'content-length': size }),
    'content-md5': put.ETag?.replace(/"/g, ''),
    'content-type': 'text/plain',
    'last-modified': new Date().toISOString(),
    'x-amz-meta-origin': 'journal-test',
    replicationInfo: {
      status: 'PENDING',
      backends: [{ site: destination.site, status: 'PENDING', dataStoreVersionId: '' }],
      content: ['DATA', 'METADATA'],
      destination: `arn:aws:s3:::${destination.bucket}`,
      storageClass: destination.site,
      role: 'arn:aws:iam::123456789012:role/backbeat',
    },
  };
}

/** A Backbeat metadata-log message (Kafka key and value) for a version's put. */
export function backbeatPutMessage(
  bucket: string,
  key: string,
  versionId: string,
  metadata: Record<string, unknown>,
): { key: string; value: string } {
  return {
    key: `${bucket}/${key}`,
    value: JSON.stringify({
      type: 'put',
      bucket,
      key: `${key}\u0000${versionId}`,
      value: JSON.stringify(metadata),
    }),
  };
}

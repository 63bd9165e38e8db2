import type { S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { tapPuts } from './put-tap';
import type { PutRecord } from './workloads';

/**
 * Writes the journal record MinIO would publish (same format, key and topic) right after
 * each PUT, for a bucket without notifications: the engine's pipeline measured without
 * MinIO's notification delivery (a 3 s store-replay ticker and one synchronous produce per event).
 */
export class DirectJournal {
  private producer?: Producer;

  constructor(
    private readonly brokers: string[],
    private readonly topic: string,
  ) {}

  async start(): Promise<void> {
    this.producer = new Kafka({
      clientId: 'crr-bench-journal',
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
    }).producer();
    await this.producer.connect();
  }

  async stop(): Promise<void> {
    await this.producer?.disconnect();
  }

  /** An S3 client whose PutObject also publishes the journal record, for the workload generators. */
  wrap(s3: S3Client): S3Client {
    return tapPuts(s3, async ({ Bucket, Key, ContentLength }, out) => {
      const eventTime = new Date().toISOString();
      const record = {
        EventName: 's3:ObjectCreated:Put',
        Key: `${Bucket}/${Key}`,
        Records: [
          {
            eventVersion: '2.0',
            eventSource: 'minio:s3',
            eventTime,
            eventName: 's3:ObjectCreated:Put',
            s3: {
              bucket: { name: Bucket },
              object: {
                key: encodeURIComponent(Key!),
                size: ContentLength ?? 0,
                eTag: out.ETag?.replace(/"/g, ''),
                versionId: out.VersionId,
                sequencer: (BigInt(Date.now()) * 1_000_000n).toString(16).toUpperCase(),
              },
            },
          },
        ],
      };
      await this.producer!.send({
        topic: this.topic,
        acks: 1,
        messages: [{ key: `${Bucket}/${Key}`, value: JSON.stringify(record) }],
      });
    });
  }
}

export type { PutRecord };

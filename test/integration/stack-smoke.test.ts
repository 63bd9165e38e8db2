import {
  CreateBucketCommand,
  ListObjectVersionsCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { MINIO_JOURNAL_QUEUE_ARN } from '../../shared/topics';
import { createSmokeActivities } from '../support/smoke-activities';
import { kafkaFor, s3ClientFor, testStack, uniqueBucket } from '../support/stack';

const stack = testStack();

describe('the local stack is real and wired', () => {
  test('a Temporal workflow on a worker runs an activity against the stack server', async () => {
    const taskQueue = `smoke-${Date.now()}`;
    const nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: stack.temporal.namespace,
      taskQueue,
      workflowsPath: require.resolve('../support/smoke-workflows'),
      activities: createSmokeActivities('smoke-worker'),
    });
    const connection = await Connection.connect({ address: stack.temporal.address });
    const client = new Client({ connection, namespace: stack.temporal.namespace });
    try {
      const result = await worker.runUntil(
        client.workflow.execute('smokeWorkflow', { taskQueue, workflowId: taskQueue, args: ['ping'] }),
      );
      expect(result).toBe('ping ran on smoke-worker (activity describeWorker)');
      const history = await client.workflow.getHandle(taskQueue).fetchHistory();
      expect(history.events?.some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });

  test('kafkajs produces and consumes through a consumer group', async () => {
    const kafka = kafkaFor(stack);
    const topic = `smoke-${Date.now()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { key: 'k1', value: 'hello' },
        { key: 'k2', value: 'world' },
      ],
    });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `${topic}-group` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed only ${received.join(',')}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          received.push(message.value!.toString());
          if (received.length === 2) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    expect(received.sort()).toEqual(['hello', 'world']);

    const offsetsAdmin = kafka.admin();
    await offsetsAdmin.connect();
    const committed = await offsetsAdmin.fetchOffsets({ groupId: `${topic}-group`, topics: [topic] });
    await offsetsAdmin.disconnect();
    const total = committed[0]!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    expect(total).toBe(2);
  });

  test.each(['source', 'target'] as const)('versioning works on the %s MinIO site', async (siteName) => {
    const s3: S3Client = s3ClientFor(stack.sites[siteName]);
    const Bucket = uniqueBucket(`smoke-${siteName}`);
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const first = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'one' }));
    const second = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'two' }));
    expect(first.VersionId).toBeTruthy();
    expect(second.VersionId).not.toBe(first.VersionId);
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: 'k' }));
    expect(versions.Versions?.map((v) => v.VersionId).sort()).toEqual(
      [first.VersionId, second.VersionId].sort(),
    );
  });

  test('a PUT on a source bucket with a notification configuration lands on the Kafka journal topic', async () => {
    const s3 = s3ClientFor(stack.sites.source);
    const Bucket = uniqueBucket('smoke-journal');
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket,
        NotificationConfiguration: {
          QueueConfigurations: [{ QueueArn: MINIO_JOURNAL_QUEUE_ARN, Events: ['s3:ObjectCreated:*'] }],
        },
      }),
    );
    const consumer = kafkaFor(stack).consumer({ groupId: `${Bucket}-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: stack.topics.journal, fromBeginning: true });
    const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'hello world.txt', Body: 'hi' }));
    const record = await new Promise<{ key: string; value: Record<string, unknown> }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no journal record within 30 s')), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const key = message.key?.toString() ?? '';
          if (!key.startsWith(`${Bucket}/`)) return;
          clearTimeout(timer);
          resolve({ key, value: JSON.parse(message.value!.toString()) as Record<string, unknown> });
        },
      });
    });
    await consumer.disconnect();
    expect(record.key).toBe(`${Bucket}/hello world.txt`);
    const records = record.value.Records as Array<{
      eventName: string;
      s3: { object: { versionId: string } };
    }>;
    expect(records[0]!.eventName).toBe('s3:ObjectCreated:Put');
    expect(records[0]!.s3.object.versionId).toBe(put.VersionId);
  });
});

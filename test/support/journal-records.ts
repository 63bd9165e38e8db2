import type { StackInfo } from '../../stack/stack';
import { kafkaFor } from './stack';

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

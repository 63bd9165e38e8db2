import type { Producer } from 'kafkajs';
import type { JournalMessage } from '../shared/journal-entry';

/** A journal message the populator could not use, with why and where it came from. */
export interface DeadLetter {
  reason: string;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  at: string;
}

export function deadLetterOf(message: JournalMessage, reason: string): DeadLetter {
  return {
    reason,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key?.toString('utf8') ?? null,
    value: message.value?.toString('utf8') ?? null,
    at: new Date().toISOString(),
  };
}

export async function sendDeadLetters(
  producer: Producer,
  topic: string,
  letters: DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  await producer.send({
    topic,
    messages: letters.map((letter) => ({
      key: letter.key,
      value: JSON.stringify(letter),
      headers: {
        'crr-reason': letter.reason,
        'crr-origin': `${letter.topic}/${letter.partition}/${letter.offset}`,
      },
    })),
  });
}

import type { DecodeResult, JournalMessage } from '../../shared/journal-entry';
import { backbeatDecoder } from './backbeat-decoder';
import { changeStreamDecoder } from './change-stream-decoder';
import type { JournalDecoder } from './journal-decoder';
import { s3EventDecoder } from './s3-event-decoder';

export type { JournalDecoder };

export const journalDecoders: readonly JournalDecoder[] = [
  s3EventDecoder,
  backbeatDecoder,
  changeStreamDecoder,
];

/** Decodes one Kafka record of any supported journal format. Never throws. */
export function decodeJournalMessage(message: JournalMessage): DecodeResult {
  if (!message.value || message.value.length === 0) return { ok: false, reason: 'empty message value' };
  let doc: unknown;
  try {
    doc = JSON.parse(message.value.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `message value is not JSON: ${(err as Error).message}` };
  }
  const decoder = journalDecoders.find((d) => d.matches(doc));
  if (!decoder)
    return {
      ok: false,
      reason:
        'unknown journal format (expected S3 event records, a Backbeat entry or a change-stream document)',
    };
  try {
    return decoder.decode(doc);
  } catch (err) {
    return { ok: false, reason: `${decoder.format} decoder failed: ${(err as Error).message}` };
  }
}

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

/** AWS sends `{"Service":"Amazon S3","Event":"s3:TestEvent",...}` when notifications are configured. */
function isAwsTestEvent(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { Event?: unknown }).Event === 's3:TestEvent';
}

/**
 * Decodes and validates one Kafka record of any supported journal format. Never throws:
 * every message is either decoded (entries, possibly none, with what was skipped and why)
 * or refused with a reason naming the field at fault.
 */
export function decodeJournalMessage(message: JournalMessage): DecodeResult {
  try {
    if (!message.value || message.value.length === 0)
      return { ok: false, reason: 'empty message value', field: '(value)' };
    let doc: unknown;
    try {
      doc = JSON.parse(message.value.toString('utf8'));
    } catch (err) {
      return {
        ok: false,
        reason: `message value is not JSON: ${(err as Error).message.slice(0, 200)}`,
        field: '(value)',
      };
    }
    if (isAwsTestEvent(doc)) return { ok: true, entries: [], skipped: ['event s3:TestEvent'] };
    const decoder = journalDecoders.find((d) => d.matches(doc));
    if (!decoder)
      return {
        ok: false,
        reason:
          'unknown journal format (expected S3 event records, a Backbeat entry or a change-stream document)',
        field: '(format)',
      };
    try {
      return decoder.decode(doc);
    } catch (err) {
      return {
        ok: false,
        reason: `${decoder.format} decoder failed: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
      };
    }
  } catch (err) {
    // Whatever the input (deep nesting, odd prototypes), a message is never an exception.
    return {
      ok: false,
      reason: `undecodable message: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
    };
  }
}

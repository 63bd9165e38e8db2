import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { JournalMessage } from '../shared/journal-entry';

/**
 * A journal message the populator could not use, with why and where it came from. Bounded
 * whatever the message: the value is cut to its first bytes (`valueBytes` and `valueSha256`
 * describe the whole original), the key and reason too, so a letter always fits in the
 * dead-letter topic and one bad message can never stop the journal.
 */
export interface DeadLetter {
  reason: string;
  /** Short category of the reason (bounded set), for the counts in the logs. */
  kind: string;
  topic: string;
  partition: number;
  offset: string;
  /** The message key as UTF-8, cut to MAX_KEY_BYTES; `keyBytes` is its original size. */
  key: string | null;
  keyBytes: number;
  /** The first bytes of the value as UTF-8 text (see valueTruncated), or null without value. */
  value: string | null;
  /** Size in bytes of the original value. */
  valueBytes: number;
  /** Hex SHA-256 of the original value, to find the message again or tell copies apart. */
  valueSha256: string | null;
  valueTruncated: boolean;
  at: string;
}

export const DEFAULT_VALUE_BYTES = 8 * 1024;
export const MAX_KEY_BYTES = 1024;
export const MAX_REASON_BYTES = 2048;
/** No letter is larger once serialised (the value is cut further if escapes made it grow). */
export const MAX_LETTER_BYTES = 64 * 1024;
const MAX_HEADER_REASON_BYTES = 512;

/** The longest prefix of `buf` up to `maxBytes` that ends on a whole UTF-8 character. */
function utf8Prefix(buf: Buffer, maxBytes: number): string {
  return new StringDecoder('utf8').write(buf.subarray(0, Math.max(0, maxBytes)));
}

export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  return `${utf8Prefix(Buffer.from(text, 'utf8'), maxBytes - 3)}…`;
}

export function deadLetterOf(
  message: JournalMessage,
  reason: string,
  options: { kind?: string; valueBytes?: number } = {},
): DeadLetter {
  const keep = options.valueBytes ?? DEFAULT_VALUE_BYTES;
  const value = message.value;
  return {
    reason: truncateUtf8(reason, MAX_REASON_BYTES),
    kind: options.kind ?? 'other',
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key === null ? null : utf8Prefix(message.key, MAX_KEY_BYTES),
    keyBytes: message.key?.length ?? 0,
    value: value === null ? null : utf8Prefix(value, keep),
    valueBytes: value?.length ?? 0,
    valueSha256: value === null ? null : createHash('sha256').update(value).digest('hex'),
    valueTruncated: value !== null && value.length > keep,
    at: new Date().toISOString(),
  };
}

/** The letter as JSON, at most MAX_LETTER_BYTES (control characters can grow 6× when escaped). */
export function serializeDeadLetter(letter: DeadLetter): string {
  let current = letter;
  let json = JSON.stringify(current);
  while (Buffer.byteLength(json, 'utf8') > MAX_LETTER_BYTES && current.value) {
    current = {
      ...current,
      value: current.value.slice(0, Math.floor(current.value.length / 2)),
      valueTruncated: true,
    };
    json = JSON.stringify(current);
  }
  return json;
}

export interface DeadLetterRecord {
  key: string | null;
  value: string;
  headers: Record<string, string>;
  letter: DeadLetter;
  /** Bytes this record adds to a produce request (value, key, headers, and some overhead). */
  bytes: number;
}

export function deadLetterRecord(letter: DeadLetter): DeadLetterRecord {
  const value = serializeDeadLetter(letter);
  const headers = {
    'crr-reason': truncateUtf8(letter.reason, MAX_HEADER_REASON_BYTES),
    'crr-origin': `${letter.topic}/${letter.partition}/${letter.offset}`,
  };
  const bytes =
    Buffer.byteLength(value, 'utf8') +
    (letter.key === null ? 0 : Buffer.byteLength(letter.key, 'utf8')) +
    Object.entries(headers).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v, 'utf8'), 0) +
    64;
  return { key: letter.key, value, headers, letter, bytes };
}

/** Groups records into produce requests of at most `maxBytes` each (one record always fits). */
export function deadLetterRequests(records: DeadLetterRecord[], maxBytes: number): DeadLetterRecord[][] {
  const requests: DeadLetterRecord[][] = [];
  let current: DeadLetterRecord[] = [];
  let size = 0;
  for (const record of records) {
    if (current.length > 0 && size + record.bytes > maxBytes) {
      requests.push(current);
      current = [];
      size = 0;
    }
    current.push(record);
    size += record.bytes;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

export interface SendDeadLettersOptions {
  logger: Logger;
  /** Bytes per produce request (default 256 KiB). */
  requestBytes?: number;
  /** Attempts per request before the letters are logged instead (default 3). */
  attempts?: number;
  /** Longest wait for one attempt (default 5 s). */
  attemptTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** What the error log says of a letter that could not be written: never the value itself. */
export function deadLetterSummary(letter: DeadLetter) {
  return {
    origin: `${letter.topic}/${letter.partition}/${letter.offset}`,
    key: letter.key === null ? null : truncateUtf8(letter.key, 256),
    valueBytes: letter.valueBytes,
    valueSha256: letter.valueSha256,
    reason: letter.reason,
    at: letter.at,
  };
}

/**
 * Writes dead letters in bounded requests, each retried a few times. Never throws and never
 * waits long: letters that cannot be written are logged at error level (origin, size,
 * hash, reason) and the journal moves on. Returns how many were written and logged.
 */
export async function sendDeadLetters(
  producer: Producer,
  topic: string,
  letters: DeadLetter[],
  options: SendDeadLettersOptions,
): Promise<{ sent: number; logged: number }> {
  const result = { sent: 0, logged: 0 };
  if (letters.length === 0) return result;
  const attempts = options.attempts ?? 3;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 5000;
  const requests = deadLetterRequests(letters.map(deadLetterRecord), options.requestBytes ?? 256 * 1024);
  for (const request of requests) {
    let lastError: unknown;
    let written = false;
    for (let attempt = 1; attempt <= attempts && !written; attempt++) {
      try {
        await withTimeout(
          producer.send({
            topic,
            timeout: attemptTimeoutMs,
            messages: request.map(({ key, value, headers }) => ({ key, value, headers })),
          }),
          attemptTimeoutMs,
          'writing dead letters',
        );
        written = true;
      } catch (err) {
        lastError = err;
        if (attempt < attempts) await sleep(250 * 2 ** attempt);
      }
    }
    if (written) {
      result.sent += request.length;
      continue;
    }
    for (const { letter } of request) {
      options.logger.error(
        { deadLetter: deadLetterSummary(letter), err: (lastError as Error)?.message },
        `dead-letter topic ${topic} could not be written after ${attempts} attempts: journal message logged here and skipped`,
      );
    }
    result.logged += request.length;
  }
  return result;
}

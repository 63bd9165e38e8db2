import { createHash } from 'node:crypto';
import type { Producer, ProducerRecord } from 'kafkajs';
import pino from 'pino';
import {
  deadLetterOf,
  deadLetterRecord,
  deadLetterRequests,
  MAX_LETTER_BYTES,
  sendDeadLetters,
  serializeDeadLetter,
} from '../../populator/dead-letter';
import type { JournalMessage } from '../../shared/journal-entry';

const MiB = 1024 * 1024;

function message(value: Buffer | null, key: Buffer | null = Buffer.from('photos/cat.jpg')): JournalMessage {
  return { key, value, topic: 'crr-journal', partition: 5, offset: '12345' };
}

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('dead letters are bounded whatever the message', () => {
  test('a 1 MiB value keeps its first 8 KiB, its size and its SHA-256', () => {
    const value = Buffer.alloc(MiB, 'a');
    const letter = deadLetterOf(message(value), 'message value is not JSON', { kind: 'invalid (value)' });
    expect(Buffer.byteLength(letter.value!)).toBe(8192);
    expect(letter).toMatchObject({
      valueBytes: MiB,
      valueTruncated: true,
      valueSha256: createHash('sha256').update(value).digest('hex'),
      topic: 'crr-journal',
      partition: 5,
      offset: '12345',
      key: 'photos/cat.jpg',
      reason: 'message value is not JSON',
      kind: 'invalid (value)',
    });
    expect(Buffer.byteLength(serializeDeadLetter(letter))).toBeLessThan(9000);
  });

  test('small values are kept whole; missing values are null', () => {
    expect(deadLetterOf(message(Buffer.from('not json')), 'r')).toMatchObject({
      value: 'not json',
      valueBytes: 8,
      valueTruncated: false,
    });
    expect(deadLetterOf(message(null, null), 'r')).toMatchObject({
      value: null,
      valueBytes: 0,
      valueSha256: null,
      key: null,
    });
  });

  test('cuts fall on whole UTF-8 characters', () => {
    const letter = deadLetterOf(message(Buffer.from('ü'.repeat(10_000))), 'r', { valueBytes: 8191 });
    expect(letter.value).not.toContain('\uFFFD');
    expect(Buffer.byteLength(letter.value!)).toBe(8190);
  });

  test('keys and reasons are cut too', () => {
    const letter = deadLetterOf(message(Buffer.from('x'), Buffer.alloc(5000, 'k')), 'why '.repeat(5000));
    expect(Buffer.byteLength(letter.key!)).toBe(1024);
    expect(letter.keyBytes).toBe(5000);
    expect(Buffer.byteLength(letter.reason)).toBeLessThanOrEqual(2048);
  });

  test('escapes cannot make a letter grow past its bound', () => {
    // Control characters are escaped as \u00XX: 6 bytes of JSON per byte of value.
    const letter = deadLetterOf(message(Buffer.alloc(MiB, 1)), 'r', { valueBytes: 65_536 });
    const json = serializeDeadLetter(letter);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_LETTER_BYTES);
    const parsed = JSON.parse(json) as { valueBytes: number; valueTruncated: boolean; value: string };
    expect(parsed).toMatchObject({ valueBytes: MiB, valueTruncated: true });
    expect(parsed.value.length).toBeGreaterThan(1000);
  });

  test('requests stay under the byte budget; a single letter always fits', () => {
    const records = Array.from({ length: 100 }, (_, i) =>
      deadLetterRecord(deadLetterOf(message(Buffer.alloc(MiB, 'b')), `bad ${i}`)),
    );
    const requests = deadLetterRequests(records, 256 * 1024);
    expect(requests.flat()).toHaveLength(100);
    expect(requests.length).toBeGreaterThan(2);
    for (const request of requests) {
      expect(request.reduce((n, r) => n + r.bytes, 0)).toBeLessThanOrEqual(256 * 1024);
    }
    expect(deadLetterRequests(records.slice(0, 1), 10)).toHaveLength(1);
  });
});

describe('sending dead letters never blocks the journal', () => {
  const letters = Array.from({ length: 60 }, (_, i) =>
    deadLetterOf(message(Buffer.alloc(MiB, 'c')), `bad message ${i}`),
  );

  test('letters go out in bounded requests with reason and origin headers', async () => {
    const requests: ProducerRecord[] = [];
    const producer = { send: async (r: ProducerRecord) => void requests.push(r) } as unknown as Producer;
    const { logger } = capturingLogger();
    expect(await sendDeadLetters(producer, 'dlq', letters, { logger })).toEqual({ sent: 60, logged: 0 });
    expect(requests.length).toBeGreaterThan(1);
    for (const request of requests) {
      const bytes = request.messages.reduce((n, m) => n + Buffer.byteLength(m.value as string), 0);
      expect(bytes).toBeLessThanOrEqual(256 * 1024);
      expect(request.topic).toBe('dlq');
    }
    const first = requests[0]!.messages[0]!;
    expect(first.headers).toEqual({ 'crr-reason': 'bad message 0', 'crr-origin': 'crr-journal/5/12345' });
    expect(JSON.parse(first.value as string)).toMatchObject({ valueBytes: MiB, valueTruncated: true });
  });

  test('an unwritable topic: a few attempts, then each letter is logged at error level without its value', async () => {
    let attempts = 0;
    const producer = {
      send: async () => {
        attempts++;
        throw new Error('MESSAGE_TOO_LARGE');
      },
    } as unknown as Producer;
    const { logger, lines } = capturingLogger();
    const result = await sendDeadLetters(producer, 'dlq', letters.slice(0, 3), { logger, attempts: 2 });
    expect(result).toEqual({ sent: 0, logged: 3 });
    expect(attempts).toBe(2); // one request, two attempts
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(3);
    for (const line of errors) {
      expect(line.deadLetter).toMatchObject({
        origin: 'crr-journal/5/12345',
        valueBytes: MiB,
        valueSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      expect(JSON.stringify(line)).not.toContain('cccccccc');
    }
  });

  test('a producer that never answers costs a bounded time', async () => {
    const producer = { send: () => new Promise(() => undefined) } as unknown as Producer;
    const { logger } = capturingLogger();
    const started = Date.now();
    const result = await sendDeadLetters(producer, 'dlq', letters.slice(0, 1), {
      logger,
      attempts: 2,
      attemptTimeoutMs: 100,
    });
    expect(result.logged).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

/**
 * Seeded generator of fuzzed journal messages, for the decoder's fuzz test, the populator's
 * resilience test and the fault suite. The same seed always gives the same messages, so a
 * failure reproduces from the seed printed by the test.
 *
 * Each message says what must happen to it:
 * - `refused`: it carries a defect the populator must refuse (dead-letter with a reason):
 *   not JSON, an absurd size, an unknown event name, a 1025-byte key, ...
 * - `any`: a random mutation of a valid message; it may decode or be refused, but must
 *   never throw and never stall anything.
 */

export type FuzzExpectation = 'refused' | 'any';

export interface FuzzedJournalMessage {
  /** Kafka message key: unique per message (`<prefix><seed>-<index>`), to find its dead letter. */
  key: string;
  value: Buffer | null;
  expect: FuzzExpectation;
  /** What was done to the message, for failure messages. */
  mutation: string;
}

export interface FuzzOptions {
  seed: number;
  /** Bucket named by the generated entries (default "fuzz-bucket"); use one without rules. */
  bucket?: string;
  /** Kafka key prefix (default "fuzz-"). */
  keyPrefix?: string;
  /** Share of `any` (random mutation) messages; the rest are `refused` (default 0.5). */
  mutatedShare?: number;
}

/** mulberry32: small, fast, good enough to fuzz, and reproducible from a 32-bit seed. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!;

function randomString(rng: Rng, max = 24): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./%+ éü🚀\u0000"\\';
  const chars = Array.from(alphabet);
  let out = '';
  const length = int(rng, max + 1);
  for (let i = 0; i < length; i++) out += pick(rng, chars);
  return out;
}

function hex(rng: Rng, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += '0123456789ABCDEF'[int(rng, 16)];
  return out;
}

function randomJson(rng: Rng, depth = 0): Json {
  const kind = int(rng, depth > 3 ? 6 : 8);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng() < 0.5;
    case 2:
      return pick(rng, [
        0,
        -1,
        1.5,
        1e300,
        -1e300,
        2 ** 53,
        5 * 1024 ** 4 + 1,
        Number.MAX_VALUE,
        int(rng, 1e9),
      ]);
    case 3:
      return randomString(rng);
    case 4:
      return 'x'.repeat(pick(rng, [0, 1, 1025, 5000]));
    case 5:
      return hex(rng, int(rng, 80));
    case 6:
      return Array.from({ length: int(rng, 4) }, () => randomJson(rng, depth + 1));
    default: {
      const obj: { [key: string]: Json } = {};
      for (let i = int(rng, 4); i > 0; i--) obj[randomString(rng, 8)] = randomJson(rng, depth + 1);
      return obj;
    }
  }
}

/** A valid MinIO event record for one object version. */
export function s3EventRecord(
  bucket: string,
  key: string,
  options: { eventName?: string; size?: number; versionId?: string; sequencer?: string } = {},
): Record<string, Json> {
  const object: Record<string, Json> = {
    key: encodeURIComponent(key),
    size: options.size ?? 11,
    eTag: 'd41d8cd98f00b204e9800998ecf8427e',
    versionId: options.versionId ?? '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    sequencer: options.sequencer ?? '187A2B3C4D5E6F70',
    contentType: 'text/plain',
    userMetadata: { 'content-type': 'text/plain' },
  };
  return {
    eventVersion: '2.0',
    eventSource: 'minio:s3',
    awsRegion: '',
    eventTime: '2026-11-24T10:00:00.123Z',
    eventName: options.eventName ?? 's3:ObjectCreated:Put',
    s3: { s3SchemaVersion: '1.0', bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` }, object },
  };
}

export function s3Event(
  bucket: string,
  key: string,
  record = s3EventRecord(bucket, key),
): Record<string, Json> {
  return { EventName: record.eventName ?? null, Key: `${bucket}/${key}`, Records: [record] };
}

function backbeatEntry(bucket: string, key: string): Record<string, Json> {
  return {
    type: 'put',
    bucket,
    key: `${key}\u000098765432101234999999RG001`,
    value: JSON.stringify({
      'content-length': 5,
      'content-md5': 'd41d8cd98f00b204e9800998ecf8427e',
      'last-modified': '2026-11-24T10:00:00.000Z',
      versionId: '98765432101234999999RG001',
      replicationInfo: { status: 'PENDING', backends: [{ site: 'x' }], content: ['DATA', 'METADATA'] },
    }),
  };
}

function changeStreamDocument(bucket: string, key: string): Record<string, Json> {
  return {
    ns: { db: 'metadata', coll: bucket },
    documentKey: { _id: `${key}\u0000v7` },
    operationType: 'insert',
    clusterTime: { $timestamp: { t: 1764000000, i: 3 } },
    fullDocument: {
      _id: `${key}\u0000v7`,
      value: { key, versionId: 'v7', 'content-length': 3, 'last-modified': '2026-11-24T10:00:00.000Z' },
    },
  };
}

const jsonBuffer = (doc: unknown) => Buffer.from(JSON.stringify(doc), 'utf8');

function withObject(
  bucket: string,
  key: string,
  change: (object: Record<string, Json>, record: Record<string, Json>) => void,
): Buffer {
  const record = s3EventRecord(bucket, key);
  change((record.s3 as { object: Record<string, Json> }).object, record);
  return jsonBuffer(s3Event(bucket, key, record));
}

/** Defects the populator must refuse, each with its name. */
const DEFECTS: ReadonlyArray<[string, (rng: Rng, bucket: string, key: string) => Buffer | null]> = [
  ['empty value', () => Buffer.alloc(0)],
  [
    'random bytes',
    (rng) => {
      const bytes = Buffer.alloc(1 + int(rng, 300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(rng, 256);
      // Never a JSON document by accident: start with a byte no JSON text starts with.
      bytes[0] = pick(rng, [0x00, 0x01, 0x7f, 0xff, 0x3c, 0x23]);
      return bytes;
    },
  ],
  [
    'truncated JSON',
    (rng, bucket, key) => {
      const whole = JSON.stringify(s3Event(bucket, key));
      return Buffer.from(whole.slice(0, 1 + int(rng, whole.length - 2)), 'utf8');
    },
  ],
  ['JSON of no known format', (rng) => jsonBuffer(pick(rng, [{}, [], 42, 'text', { hello: 'world' }, null]))],
  ['Records is not an array', () => jsonBuffer({ Records: { 0: {} } })],
  [
    'too many records',
    (_rng, bucket) =>
      jsonBuffer({
        Records: Array.from({ length: 1001 }, () => ({
          eventName: 's3:ObjectCreated:Put',
          s3: { bucket: { name: bucket } },
        })),
      }),
  ],
  [
    'absurd size',
    (rng, bucket, key) =>
      withObject(bucket, key, (o) => {
        o.size = pick(rng, [1e300, -1, 1.5, 5 * 1024 ** 4 + 1, '100', null, 2 ** 63]);
      }),
  ],
  [
    'unknown event name',
    (rng, bucket, key) =>
      withObject(bucket, key, (_o, r) => {
        r.eventName = `s3:Fuzz${hex(rng, 6)}:${randomString(rng, 10)}`;
      }),
  ],
  [
    'event name of the wrong type',
    (rng, bucket, key) =>
      withObject(bucket, key, (_o, r) => {
        r.eventName = pick(rng, [42, null, ['s3:ObjectCreated:Put'], { name: 'x' }]);
      }),
  ],
  [
    '1025-byte key',
    (rng, bucket) =>
      withObject(bucket, 'k', (o) => {
        o.key = encodeURIComponent(`${'ü'.repeat(500)}${'x'.repeat(25)}${rng() < 0.5 ? '' : 'more'}`);
      }),
  ],
  ['missing key', (_rng, bucket, key) => withObject(bucket, key, (o) => void delete o.key)],
  ['empty key', (_rng, bucket, key) => withObject(bucket, key, (o) => void (o.key = ''))],
  [
    'bad URL encoding',
    (_rng, bucket, key) => withObject(bucket, key, (o) => void (o.key = `${key}%E0%A4%A`)),
  ],
  [
    'event time not a date',
    (rng, bucket, key) =>
      withObject(bucket, key, (_o, r) => {
        r.eventTime = pick(rng, ['yesterday', '', '2026-13-45T99:99:99Z', 'x'.repeat(100)]);
      }),
  ],
  [
    'bad sequencer',
    (rng, bucket, key) =>
      withObject(bucket, key, (o) => {
        o.sequencer = pick(rng, ['not-hex', hex(rng, 65), '12 34']);
      }),
  ],
  [
    'version id not a string',
    (rng, bucket, key) => withObject(bucket, key, (o) => void (o.versionId = pick(rng, [1, true, {}]))),
  ],
  ['bucket name with a slash', (_rng, _bucket, key) => jsonBuffer(s3Event('a/b', key))],
  [
    'user metadata not strings',
    (_rng, bucket, key) => withObject(bucket, key, (o) => void (o.userMetadata = { a: 1 })),
  ],
  [
    'backbeat: absurd content-length',
    (rng, bucket, key) => {
      const entry = backbeatEntry(bucket, key);
      const value = JSON.parse(entry.value as string) as Record<string, Json>;
      value['content-length'] = pick(rng, [1e300, -5, 0.5]);
      return jsonBuffer({ ...entry, value: JSON.stringify(value) });
    },
  ],
  [
    'backbeat: value not JSON',
    (_rng, bucket, key) => jsonBuffer({ ...backbeatEntry(bucket, key), value: '{broken' }),
  ],
  [
    'backbeat: unknown type',
    (_rng, bucket, key) => jsonBuffer({ ...backbeatEntry(bucket, key), type: 'drop' }),
  ],
  [
    'backbeat: 1025-byte key',
    (_rng, bucket) => jsonBuffer({ ...backbeatEntry(bucket, 'k'), key: `${'y'.repeat(1025)}\u0000v1` }),
  ],
  [
    'change stream: bad cluster time',
    (rng, bucket, key) =>
      jsonBuffer({
        ...changeStreamDocument(bucket, key),
        clusterTime: { $timestamp: { t: pick(rng, [-1, 1.5, 1e300]), i: 0 } },
      }),
  ],
  [
    'change stream: insert without metadata',
    (_rng, bucket, key) => jsonBuffer({ ...changeStreamDocument(bucket, key), fullDocument: {} }),
  ],
  [
    'change stream: absurd content-length',
    (_rng, bucket, key) => {
      const doc = changeStreamDocument(bucket, key);
      const full = doc.fullDocument as { value: Record<string, Json> };
      full.value['content-length'] = 1e300;
      return jsonBuffer(doc);
    },
  ],
];

/** Sets, replaces or deletes something at a random place of a document. */
function mutate(rng: Rng, doc: Json, log: string[]): Json {
  if (doc === null || typeof doc !== 'object') return rng() < 0.5 ? randomJson(rng) : doc;
  const keys = Array.isArray(doc) ? doc.map((_, i) => String(i)) : Object.keys(doc);
  if (keys.length === 0 || rng() < 0.15) {
    const name = Array.isArray(doc) ? String(doc.length) : randomString(rng, 8);
    log.push(`add ${name}`);
    (doc as Record<string, Json>)[name] = randomJson(rng);
    return doc;
  }
  const name = pick(rng, keys);
  const child = (doc as Record<string, Json>)[name]!;
  const roll = rng();
  if (roll < 0.15) {
    log.push(`delete ${name}`);
    if (Array.isArray(doc)) doc.splice(Number(name), 1);
    else delete (doc as Record<string, Json>)[name];
  } else if (roll < 0.45 || child === null || typeof child !== 'object') {
    const value = randomJson(rng);
    log.push(`set ${name}=${JSON.stringify(value)?.slice(0, 40)}`);
    (doc as Record<string, Json>)[name] = value;
  } else {
    log.push(`into ${name}`);
    (doc as Record<string, Json>)[name] = mutate(rng, child, log);
  }
  return doc;
}

function mutatedMessage(rng: Rng, bucket: string, key: string): { value: Buffer; mutation: string } {
  const base = int(rng, 4);
  const doc: Json =
    base === 0
      ? changeStreamDocument(bucket, key)
      : base === 1
        ? backbeatEntry(bucket, key)
        : s3Event(
            bucket,
            key,
            s3EventRecord(bucket, key, {
              eventName: pick(rng, [
                's3:ObjectCreated:Put',
                's3:ObjectRemoved:DeleteMarkerCreated',
                's3:ObjectCreated:PutTagging',
                's3:ObjectAccessed:Get',
              ]),
            }),
          );
  const log: string[] = [];
  let current: Json = doc;
  for (let i = 1 + int(rng, 3); i > 0; i--) current = mutate(rng, current, log);
  let text = JSON.stringify(current) ?? 'null';
  if (rng() < 0.05) {
    // Byte-level damage as well.
    const at = int(rng, text.length);
    text = `${text.slice(0, at)}${randomString(rng, 3)}${text.slice(at + 1)}`;
    log.push(`bytes at ${at}`);
  }
  return {
    value: Buffer.from(text, 'utf8'),
    mutation: `${['change-stream', 'backbeat', 's3-event', 's3-event'][base]}: ${log.join(', ')}`,
  };
}

/** `count` fuzzed journal messages, reproducible from `options.seed`. */
export function fuzzJournalMessages(count: number, options: FuzzOptions): FuzzedJournalMessage[] {
  const rng = createRng(options.seed);
  const bucket = options.bucket ?? 'fuzz-bucket';
  const prefix = options.keyPrefix ?? 'fuzz-';
  const mutatedShare = options.mutatedShare ?? 0.5;
  const messages: FuzzedJournalMessage[] = [];
  for (let i = 0; i < count; i++) {
    const key = `${prefix}${options.seed}-${i}`;
    const objectKey = `fuzz/${i}/${randomString(rng, 12).split('\u0000').join('')}`;
    if (rng() < mutatedShare) {
      const { value, mutation } = mutatedMessage(rng, bucket, objectKey);
      messages.push({ key, value, expect: 'any', mutation });
    } else {
      const [name, make] = pick(rng, DEFECTS);
      messages.push({ key, value: make(rng, bucket, objectKey), expect: 'refused', mutation: name });
    }
  }
  return messages;
}

/** Only messages that must be refused: what a test expects in the dead-letter topic. */
export function refusedJournalMessages(count: number, options: FuzzOptions): FuzzedJournalMessage[] {
  return fuzzJournalMessages(count, { ...options, mutatedShare: 0 });
}

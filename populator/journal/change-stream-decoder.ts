import { z } from 'zod';
import type { DecodeResult } from '../../shared/journal-entry';
import type { JournalDecoder } from './journal-decoder';
import { describeIssue } from '../../shared/zod-issues';
import { BucketNameSchema, MAX_UINT32 } from './limits';
import { entryFromObjectMetadata, MAX_METADATA_KEY_LENGTH, ObjectMetadataSchema } from './object-metadata';

const Uint32Schema = z.number().int('must be an integer').min(0, 'must not be negative').max(MAX_UINT32);
const TimestampSchema = z.union([
  z.object({ $timestamp: z.object({ t: Uint32Schema, i: Uint32Schema }) }),
  z.object({ t: Uint32Schema, i: Uint32Schema }),
  Uint32Schema,
]);

const ChangeSchema = z
  .object({
    ns: z.object({ db: z.string().optional(), coll: BucketNameSchema }),
    documentKey: z.object({
      _id: z
        .string()
        .min(1, 'must not be empty')
        .max(MAX_METADATA_KEY_LENGTH, `must be at most ${MAX_METADATA_KEY_LENGTH} characters`),
    }),
    operationType: z.enum(['insert', 'replace', 'update', 'delete']),
    clusterTime: TimestampSchema.optional(),
    fullDocument: z.object({ value: z.unknown().optional() }).passthrough().nullable().optional(),
    updateDescription: z
      .object({ updatedFields: z.record(z.string(), z.unknown()).optional() })
      .passthrough()
      .optional(),
  })
  .passthrough();

/** Kafka Connect may publish the document itself, a JSON string of it, or a {schema, payload} envelope. */
export function unwrapChangeDocument(doc: unknown): unknown {
  let current = doc;
  for (let depth = 0; depth < 3; depth++) {
    if (typeof current === 'string') {
      try {
        current = JSON.parse(current);
        continue;
      } catch {
        return current;
      }
    }
    if (typeof current === 'object' && current !== null && 'payload' in current && 'schema' in current) {
      current = (current as { payload: unknown }).payload;
      continue;
    }
    return current;
  }
  return current;
}

function clusterSequence(ts: z.infer<typeof TimestampSchema> | undefined): {
  sequence?: string;
  time?: string;
} {
  if (ts === undefined) return {};
  const { t, i } = typeof ts === 'number' ? { t: ts, i: 0 } : '$timestamp' in ts ? ts.$timestamp : ts;
  return { sequence: ((BigInt(t) << 32n) + BigInt(i)).toString(), time: new Date(t * 1000).toISOString() };
}

/** MongoDB change-stream documents of a Zenko metadata store, published by Kafka Connect. */
export const changeStreamDecoder: JournalDecoder = {
  format: 'change-stream',
  matches(doc) {
    const d = unwrapChangeDocument(doc);
    return typeof d === 'object' && d !== null && ('operationType' in d || ('ns' in d && 'documentKey' in d));
  },
  decode(doc): DecodeResult {
    const parsed = ChangeSchema.safeParse(unwrapChangeDocument(doc));
    if (!parsed.success) {
      const { field, problem } = describeIssue(parsed.error.issues[0]!);
      return { ok: false, reason: `change-stream document: ${field} ${problem}`, field };
    }
    const change = parsed.data;
    const bucket = change.ns.coll;
    if (bucket.startsWith('__'))
      return { ok: true, entries: [], skipped: ['change-stream internal collection'] };
    const { sequence, time } = clusterSequence(change.clusterTime);
    const rawValue =
      change.operationType === 'update'
        ? (change.updateDescription?.updatedFields?.value ?? change.fullDocument?.value)
        : change.fullDocument?.value;
    if (change.operationType !== 'delete' && rawValue === undefined) {
      return {
        ok: false,
        reason: `change-stream ${change.operationType} on ${bucket}: no object metadata (fullDocument.value)`,
        field: 'fullDocument.value',
      };
    }
    const metadata = ObjectMetadataSchema.safeParse(rawValue ?? {});
    if (!metadata.success) {
      const { field, problem } = describeIssue(metadata.error.issues[0]!, ['value']);
      return {
        ok: false,
        reason: `change-stream document on ${bucket}: metadata ${field} ${problem}`,
        field,
      };
    }
    const result = entryFromObjectMetadata({
      bucket,
      metadataKey: change.documentKey._id,
      metadata: metadata.data,
      deleted: change.operationType === 'delete',
      format: 'change-stream',
      fallbackTime: time,
      sequence,
    });
    if (result.error) {
      return {
        ok: false,
        reason: `change-stream document on ${bucket}: ${result.error}`,
        field: `value.${result.field ?? 'metadata'}`,
      };
    }
    if (!result.entry)
      return { ok: true, entries: [], skipped: [`change-stream ${result.skipped ?? 'entry'}`] };
    return { ok: true, entries: [result.entry] };
  },
};

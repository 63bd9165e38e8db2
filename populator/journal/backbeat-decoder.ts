import { z } from 'zod';
import type { DecodeResult } from '../../shared/journal-entry';
import type { JournalDecoder } from './journal-decoder';
import { describeIssue } from '../../shared/zod-issues';
import { BucketNameSchema } from './limits';
import { entryFromObjectMetadata, MAX_METADATA_KEY_LENGTH, ObjectMetadataSchema } from './object-metadata';

const BackbeatEntrySchema = z.object({
  type: z.enum(['put', 'del']),
  bucket: BucketNameSchema,
  key: z
    .string()
    .min(1, 'must not be empty')
    .max(MAX_METADATA_KEY_LENGTH, `must be at most ${MAX_METADATA_KEY_LENGTH} characters`),
  value: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  timestamp: z.string().optional(),
});

/** A bucket or key quoted back in a reason, bounded. */
function quote(text: string): string {
  return text.length > 256 ? `${text.slice(0, 256)}…` : text;
}

/** Entries of Scality CloudServer's metadata log, as Backbeat's queue populator republishes them. */
export const backbeatDecoder: JournalDecoder = {
  format: 'backbeat',
  matches: (doc) =>
    typeof doc === 'object' && doc !== null && 'type' in doc && 'bucket' in doc && 'key' in doc,
  decode(doc): DecodeResult {
    const parsed = BackbeatEntrySchema.safeParse(doc);
    if (!parsed.success) {
      const { field, problem } = describeIssue(parsed.error.issues[0]!);
      return { ok: false, reason: `backbeat entry: ${field} ${problem}`, field };
    }
    const { type, bucket, key, value, timestamp } = parsed.data;
    const where = `backbeat entry for ${quote(bucket)}/${quote(key)}`;
    let raw: unknown = value ?? {};
    if (typeof raw === 'string') {
      try {
        raw = JSON.parse(raw);
      } catch {
        return { ok: false, reason: `${where}: value is not JSON object metadata`, field: 'value' };
      }
    }
    const metadata = ObjectMetadataSchema.safeParse(raw);
    if (!metadata.success) {
      const { field, problem } = describeIssue(metadata.error.issues[0]!, ['value']);
      return { ok: false, reason: `${where}: metadata ${field} ${problem}`, field };
    }
    const result = entryFromObjectMetadata({
      bucket,
      metadataKey: key,
      metadata: metadata.data,
      deleted: type === 'del',
      format: 'backbeat',
      fallbackTime: timestamp,
    });
    if (result.error) {
      return { ok: false, reason: `${where}: ${result.error}`, field: `value.${result.field ?? 'metadata'}` };
    }
    if (!result.entry) return { ok: true, entries: [], skipped: [`backbeat ${result.skipped ?? 'entry'}`] };
    return { ok: true, entries: [result.entry] };
  },
};

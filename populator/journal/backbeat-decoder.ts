import { z } from 'zod';
import type { DecodeResult } from '../../shared/journal-entry';
import type { JournalDecoder } from './journal-decoder';
import { entryFromObjectMetadata, ObjectMetadataSchema } from './object-metadata';

const BackbeatEntrySchema = z.object({
  type: z.enum(['put', 'del']),
  bucket: z.string().min(1),
  key: z.string().min(1),
  value: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  timestamp: z.string().optional(),
});

/** Entries of Scality CloudServer's metadata log, as Backbeat's queue populator republishes them. */
export const backbeatDecoder: JournalDecoder = {
  format: 'backbeat',
  matches: (doc) =>
    typeof doc === 'object' && doc !== null && 'type' in doc && 'bucket' in doc && 'key' in doc,
  decode(doc): DecodeResult {
    const parsed = BackbeatEntrySchema.safeParse(doc);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { ok: false, reason: `backbeat entry: ${issue.path.join('.')}: ${issue.message}` };
    }
    const { type, bucket, key, value, timestamp } = parsed.data;
    let raw: unknown = value ?? {};
    if (typeof raw === 'string') {
      try {
        raw = JSON.parse(raw);
      } catch {
        return {
          ok: false,
          reason: `backbeat entry for ${bucket}/${key}: value is not JSON object metadata`,
        };
      }
    }
    const metadata = ObjectMetadataSchema.safeParse(raw);
    if (!metadata.success) {
      const issue = metadata.error.issues[0]!;
      return {
        ok: false,
        reason: `backbeat entry for ${bucket}/${key}: metadata ${issue.path.join('.')}: ${issue.message}`,
      };
    }
    const result = entryFromObjectMetadata({
      bucket,
      metadataKey: key,
      metadata: metadata.data,
      deleted: type === 'del',
      format: 'backbeat',
      fallbackTime: timestamp,
    });
    if (result.error) return { ok: false, reason: `backbeat entry for ${bucket}/${key}: ${result.error}` };
    return { ok: true, entries: result.entry ? [result.entry] : [] };
  },
};

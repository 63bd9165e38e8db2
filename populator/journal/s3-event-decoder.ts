import { z } from 'zod';
import type { DecodeResult, JournalEntry, JournalOperation } from '../../shared/journal-entry';
import type { JournalDecoder } from './journal-decoder';
import { eventTimeNs } from './object-metadata';

const RecordSchema = z
  .object({
    eventTime: z.string(),
    eventName: z.string(),
    s3: z.object({
      bucket: z.object({ name: z.string().min(1) }).passthrough(),
      object: z
        .object({
          key: z.string(),
          size: z.number().nonnegative().optional(),
          eTag: z.string().optional(),
          versionId: z.string().optional(),
          sequencer: z.string().optional(),
          contentType: z.string().optional(),
          userMetadata: z.record(z.string(), z.string()).optional(),
        })
        .passthrough(),
    }),
  })
  .passthrough();

const EventSchema = z.object({ Records: z.array(z.unknown()) }).passthrough();

/** MinIO, Ceph RGW and AWS event names (with or without the `s3:` prefix) → operations. */
function operationOf(eventName: string): JournalOperation | undefined {
  const name = eventName.replace(/^s3:/, '');
  if (/^ObjectCreated:(Put|Post|Copy|CompleteMultipartUpload)$/.test(name)) return 'put';
  if (/^ObjectCreated:(PutTagging|DeleteTagging|PutRetention|PutLegalHold)$/.test(name)) return 'metadata';
  if (/^ObjectTagging:(Put|Delete)$/.test(name)) return 'metadata';
  if (name === 'ObjectRemoved:DeleteMarkerCreated') return 'delete-marker';
  if (name === 'ObjectRemoved:Delete') return 'delete-version';
  return undefined;
}

function decodeKey(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

function describePath(path: PropertyKey[]): string {
  return path.map(String).join('.');
}

export const s3EventDecoder: JournalDecoder = {
  format: 's3-event',
  matches: (doc) =>
    typeof doc === 'object' && doc !== null && Array.isArray((doc as { Records?: unknown }).Records),
  decode(doc): DecodeResult {
    const event = EventSchema.safeParse(doc);
    if (!event.success) return { ok: false, reason: 's3 event: Records must be an array' };
    const entries: JournalEntry[] = [];
    for (const [i, raw] of event.data.Records.entries()) {
      const parsed = RecordSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return {
          ok: false,
          reason: `s3 event record ${i}: ${describePath(issue.path)} ${issue.message === 'Required' || issue.code === 'invalid_type' ? 'is missing or has the wrong type' : issue.message}`,
        };
      }
      const record = parsed.data;
      const operation = operationOf(record.eventName);
      if (!operation) continue;
      if (Number.isNaN(new Date(record.eventTime).getTime())) {
        return { ok: false, reason: `s3 event record ${i}: eventTime "${record.eventTime}" is not a date` };
      }
      let key: string;
      try {
        key = decodeKey(record.s3.object.key);
      } catch {
        return {
          ok: false,
          reason: `s3 event record ${i}: object key "${record.s3.object.key}" is not valid URL encoding`,
        };
      }
      const object = record.s3.object;
      const meta = object.userMetadata ?? {};
      const userMetadata = Object.fromEntries(
        Object.entries(meta)
          .filter(([name]) => name.toLowerCase().startsWith('x-amz-meta-'))
          .map(([name, value]) => [name.slice('x-amz-meta-'.length).toLowerCase(), value]),
      );
      const contentType =
        object.contentType ?? Object.entries(meta).find(([n]) => n.toLowerCase() === 'content-type')?.[1];
      const replicaMark = (
        userMetadata['scal-replication-status'] ??
        meta['x-amz-replication-status'] ??
        ''
      ).toUpperCase();
      let sequence: string;
      try {
        sequence = object.sequencer
          ? BigInt(`0x${object.sequencer}`).toString()
          : eventTimeNs(record.eventTime);
      } catch {
        return {
          ok: false,
          reason: `s3 event record ${i}: sequencer "${object.sequencer}" is not hexadecimal`,
        };
      }
      entries.push({
        bucket: record.s3.bucket.name,
        key,
        versionId: object.versionId || 'null',
        operation,
        size: operation === 'put' ? (object.size ?? 0) : 0,
        etag: object.eTag?.replace(/"/g, ''),
        eventTime: new Date(record.eventTime).toISOString(),
        sequence,
        contentType,
        userMetadata: Object.keys(userMetadata).length > 0 ? userMetadata : undefined,
        isReplica: replicaMark === 'REPLICA',
        format: 's3-event',
      });
    }
    return { ok: true, entries };
  },
};

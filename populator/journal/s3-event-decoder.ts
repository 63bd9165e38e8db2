import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DecodeResult, JournalEntry } from '../../shared/journal-entry';
import { describeIssue } from '../../shared/zod-issues';
import type { JournalDecoder } from './journal-decoder';
import {
  BucketNameSchema,
  EtagSchema,
  keyProblem,
  MAX_RECORDS_PER_MESSAGE,
  MAX_SEQUENCER_LENGTH,
  ObjectSizeSchema,
  VersionIdSchema,
} from './limits';
import { eventTimeNs } from './object-metadata';
import { canonicalEventName, classifyEventName } from './s3-event-names';
import { bareEtag, NULL_VERSION_ID } from '../../shared/s3-names';
import { isReplicaStatus, REPLICA_STATUS_FIELD } from '../../shared/replica-marker';

const RecordSchema = z
  .object({
    eventTime: z.string().max(64, 'must be an ISO 8601 time'),
    eventName: z.string(),
    s3: z.object({
      bucket: z.object({ name: BucketNameSchema }).passthrough(),
      object: z
        .object({
          key: z.string(),
          size: ObjectSizeSchema.optional(),
          eTag: EtagSchema.optional(),
          versionId: VersionIdSchema.optional(),
          sequencer: z
            .string()
            .max(MAX_SEQUENCER_LENGTH, `must be at most ${MAX_SEQUENCER_LENGTH} hexadecimal digits`)
            .regex(/^[0-9A-Fa-f]*$/, 'must be hexadecimal')
            .optional(),
          contentType: z.string().optional(),
          userMetadata: z.record(z.string(), z.string()).optional(),
        })
        .passthrough(),
    }),
  })
  .passthrough();

/** Longest event name quoted back in a reason (the name itself may be anything). */
const QUOTED_NAME_LENGTH = 128;

function decodeKey(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

function refuse(i: number, field: string, problem: string): DecodeResult {
  return { ok: false, reason: `s3 event record ${i}: ${field} ${problem}`, field };
}

/**
 * A tag change's sequence: its event time in nanoseconds, the nanoseconds below the
 * millisecond (which event times do not have) taken from a hash of the whole record. Two
 * changes of one version in the same millisecond (on one site, or one on each side of a
 * two-way pair: the key workflow sees both under the same version id) would otherwise get
 * the same task identity, and the second would be dropped as a redelivery of the first. A
 * redelivered record is the same bytes, so it keeps its sequence and is still recognised.
 */
export function metadataSequence(eventTime: string, record: unknown): string {
  const fingerprint = createHash('sha256').update(JSON.stringify(record)).digest().readUInt32BE(0);
  return (BigInt(eventTimeNs(eventTime)) + BigInt(fingerprint % 1_000_000)).toString();
}

/** S3 event notification records (MinIO, Ceph RGW, AWS): `{ Records: [...] }`. */
export const s3EventDecoder: JournalDecoder = {
  format: 's3-event',
  matches: (doc) =>
    typeof doc === 'object' && doc !== null && Array.isArray((doc as { Records?: unknown }).Records),
  decode(doc): DecodeResult {
    const records = (doc as { Records?: unknown } | null)?.Records;
    if (!Array.isArray(records))
      return { ok: false, reason: 's3 event: Records must be an array', field: 'Records' };
    if (records.length > MAX_RECORDS_PER_MESSAGE) {
      return {
        ok: false,
        reason: `s3 event: Records has ${records.length} records, more than ${MAX_RECORDS_PER_MESSAGE} per message`,
        field: 'Records',
      };
    }
    if (records.length === 0) return { ok: true, entries: [], skipped: ['s3 event without records'] };
    const entries: JournalEntry[] = [];
    const skipped: string[] = [];
    for (const [i, raw] of records.entries()) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        return refuse(i, '(record)', 'must be an object');
      }
      const eventName = (raw as { eventName?: unknown }).eventName;
      if (typeof eventName !== 'string') return refuse(i, 'eventName', 'is missing or is not a string');
      const named = classifyEventName(eventName);
      if (named.kind === 'unknown') {
        const quoted = JSON.stringify(eventName.slice(0, QUOTED_NAME_LENGTH));
        return refuse(i, 'eventName', `${quoted} is not a known S3 event name`);
      }
      if (named.kind === 'irrelevant') {
        skipped.push(`event ${canonicalEventName(eventName)}`);
        continue;
      }
      const operation = named.operation;
      const parsed = RecordSchema.safeParse(raw);
      if (!parsed.success) {
        const { field, problem } = describeIssue(parsed.error.issues[0]!);
        return refuse(i, field, problem);
      }
      const record = parsed.data;
      const object = record.s3.object;
      if (Number.isNaN(new Date(record.eventTime).getTime())) {
        return refuse(i, 'eventTime', `${JSON.stringify(record.eventTime)} is not a date`);
      }
      let key: string;
      try {
        key = decodeKey(object.key);
      } catch {
        return refuse(i, 's3.object.key', `"${object.key.slice(0, 256)}" is not valid URL encoding`);
      }
      const badKey = keyProblem(key);
      if (badKey) return refuse(i, 's3.object.key', badKey);
      const meta = object.userMetadata ?? {};
      const userMetadata = Object.fromEntries(
        Object.entries(meta)
          .filter(([name]) => name.toLowerCase().startsWith('x-amz-meta-'))
          .map(([name, value]) => [name.slice('x-amz-meta-'.length).toLowerCase(), value]),
      );
      const contentType =
        object.contentType ?? Object.entries(meta).find(([n]) => n.toLowerCase() === 'content-type')?.[1];
      const replicaMark = userMetadata[REPLICA_STATUS_FIELD] ?? meta['x-amz-replication-status'];
      // A version's sequencer stays the same for every later change of its tags: as the
      // sequence of those changes it would make each one look like a redelivery of the first
      // (and be dropped as a duplicate), so a metadata change is sequenced by its own time,
      // with the record's fingerprint below the millisecond (metadataSequence).
      const sequence =
        operation === 'metadata'
          ? metadataSequence(record.eventTime, raw)
          : object.sequencer
            ? BigInt(`0x${object.sequencer}`).toString()
            : eventTimeNs(record.eventTime);
      entries.push({
        bucket: record.s3.bucket.name,
        key,
        versionId: object.versionId || NULL_VERSION_ID,
        operation,
        size: operation === 'put' ? object.size : 0,
        etag: bareEtag(object.eTag),
        eventTime: new Date(record.eventTime).toISOString(),
        sequence,
        contentType,
        userMetadata: Object.keys(userMetadata).length > 0 ? userMetadata : undefined,
        isReplica: isReplicaStatus(replicaMark),
        format: 's3-event',
      });
    }
    return skipped.length > 0 ? { ok: true, entries, skipped } : { ok: true, entries };
  },
};

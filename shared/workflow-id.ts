import { createHash } from 'node:crypto';

// Temporal caps workflow ids per server (`limit.maxIDLength`; 1000 bytes on the dev server),
// and its SQL schemas store them in 255-character columns (CRR_TEMPORAL=server, PostgreSQL).
// Keys may be 1024 bytes: a longer id keeps a readable head and ends with a hash of the key.
export const MAX_ID_BYTES = 255;
/** 128 bits of SHA-256, hex. */
const DIGEST_CHARS = 32;

/** `prefix` + as much of `tail` as fits + `…sha256:<digest of tail>`, within MAX_ID_BYTES. */
function fitted(prefix: string, tail: string): string {
  const plain = prefix + tail;
  if (Buffer.byteLength(plain, 'utf8') <= MAX_ID_BYTES) return plain;
  const digest = createHash('sha256').update(tail, 'utf8').digest('hex').slice(0, DIGEST_CHARS);
  const suffix = `…sha256:${digest}`;
  const room = Math.max(0, MAX_ID_BYTES - Buffer.byteLength(prefix + suffix, 'utf8'));
  return prefix + utf8Head(tail, room) + suffix;
}

/** The first `bytes` bytes of `text` in UTF-8, cut on a character boundary (a cut sequence decodes to U+FFFD, dropped). */
function utf8Head(text: string, bytes: number): string {
  return Buffer.from(text, 'utf8')
    .subarray(0, bytes)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
}

/** The id of the workflow that orders one key's versions for one destination site. */
export function replicationWorkflowId(
  site: string,
  bucket: string,
  key: string,
  sourceSite?: string,
): string {
  // A bucket on another source site than the config's `sourceSite` is named with its site.
  return fitted(`crr/${site}/${sourceSite !== undefined ? `${sourceSite}:` : ''}${bucket}/`, key);
}

/** One backfill per (site, bucket, prefix); long prefixes end with a hash, as key ids do. */
export function backfillWorkflowId(
  taskQueuePrefix: string,
  site: string,
  bucket: string,
  prefix: string,
  sourceSite?: string,
): string {
  const source = sourceSite !== undefined ? `${sourceSite}:` : '';
  return fitted(`crr-backfill/${taskQueuePrefix}/${site}/${source}${bucket}/`, prefix);
}

/** Keyword search attribute values Temporal's SQL visibility stores (255-character columns). */
export const MAX_KEYWORD_BYTES = 255;

/**
 * The CrrKey of a key: the key itself, or its first 255 bytes (on a character boundary) for
 * longer keys, on every server alike. Queries by key use the same value.
 */
export function searchableKey(key: string): string {
  return Buffer.byteLength(key, 'utf8') <= MAX_KEYWORD_BYTES ? key : utf8Head(key, MAX_KEYWORD_BYTES);
}

import { createHash } from 'node:crypto';

// Temporal caps workflow ids (1000 bytes on our stack, configurable per server); keys may be
// 1024 bytes, so long ids keep a readable head and end with a hash of the whole key.
const MAX_ID_BYTES = 800;

/** The id of the workflow that orders one key's versions for one destination site. */
export function replicationWorkflowId(
  site: string,
  bucket: string,
  key: string,
  sourceSite?: string,
): string {
  // A bucket on another source site than the config's `sourceSite` is named with its site.
  const plain = `crr/${site}/${sourceSite !== undefined ? `${sourceSite}:` : ''}${bucket}/${key}`;
  if (Buffer.byteLength(plain, 'utf8') <= MAX_ID_BYTES) return plain;
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  const head = Buffer.from(key, 'utf8')
    .subarray(0, 200)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
  return `crr/${site}/${sourceSite !== undefined ? `${sourceSite}:` : ''}${bucket}/${head}…sha256:${digest}`;
}

/** One backfill per (site, bucket, prefix); long prefixes end with a hash, as key ids do. */
export function backfillWorkflowId(
  taskQueuePrefix: string,
  site: string,
  bucket: string,
  prefix: string,
): string {
  const plain = `crr-backfill/${taskQueuePrefix}/${site}/${bucket}/${prefix}`;
  if (Buffer.byteLength(plain, 'utf8') <= MAX_ID_BYTES) return plain;
  const digest = createHash('sha256').update(prefix, 'utf8').digest('hex');
  return `crr-backfill/${taskQueuePrefix}/${site}/${bucket}/${prefix.slice(0, 100)}…sha256:${digest}`;
}

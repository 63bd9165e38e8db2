import { createHash } from 'node:crypto';

// Temporal caps workflow ids (1000 bytes on our stack, configurable per server); keys may be
// 1024 bytes, so long ids keep a readable head and end with a hash of the whole key.
const MAX_ID_BYTES = 800;

/** The id of the workflow that orders one key's versions for one destination site. */
export function replicationWorkflowId(site: string, bucket: string, key: string): string {
  const plain = `crr/${site}/${bucket}/${key}`;
  if (Buffer.byteLength(plain, 'utf8') <= MAX_ID_BYTES) return plain;
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  const head = Buffer.from(key, 'utf8')
    .subarray(0, 200)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
  return `crr/${site}/${bucket}/${head}…sha256:${digest}`;
}

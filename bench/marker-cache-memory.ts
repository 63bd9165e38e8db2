/**
 * Live heap held by a full MarkerCache (activities/version-history.ts), the one cache of a
 * worker that grows with the versions it replicates:
 *
 *   node --expose-gc --import tsx bench/marker-cache-memory.ts [entries...]
 *
 * Entries look like a MinIO target's: a 36-character version ID, a key of about 40 bytes, a
 * replica marker of three strings. The strings are made flat, as the SDK's XML parser and
 * HTTP headers hand them to the worker.
 */
import v8 from 'node:v8';
import { randomUUID } from 'node:crypto';
import { MARKER_CACHE_ENTRIES, MarkerCache } from '../activities/version-history';

const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run with node --expose-gc --import tsx bench/marker-cache-memory.ts');
const flat = (s: string) => Buffer.from(s).toString();
/** Every cache measured stays referenced here, so that the second collection cannot free it. */
const measured: MarkerCache[] = [];

function liveMbOfFullCache(entries: number): number {
  collect!();
  const before = v8.getHeapStatistics().used_heap_size;
  const cache = new MarkerCache(entries);
  measured.push(cache);
  for (let i = 0; i < entries; i++) {
    const key = flat(`photos/2026/11/27/${randomUUID().slice(0, 12)}-${i}.jpg`);
    const marker = {
      sourceVersionId: flat(randomUUID()),
      sequence: flat(`${Date.now()}0000000:00001`),
      sourceSite: 'source',
    };
    cache.set('dr', 'photos-replica', key, flat(randomUUID()), marker);
  }
  collect!();
  return (v8.getHeapStatistics().used_heap_size - before) / 1e6;
}

const sizes = process.argv.slice(2).map(Number);
for (const entries of sizes.length ? sizes : [MARKER_CACHE_ENTRIES, 100_000]) {
  const mb = liveMbOfFullCache(entries);
  console.log(
    `${entries} entries: ${mb.toFixed(1)} MB live (${((mb * 1e6) / entries).toFixed(0)} bytes each)`,
  );
}

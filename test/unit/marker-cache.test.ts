import { MARKER_CACHE_ENTRIES, MarkerCache } from '../../activities/version-history';

test('a key had history on a site once a marker of one of its versions was read or written there', () => {
  const cache = new MarkerCache();
  expect(cache.hadHistory('target', 'b', 'k')).toBe(false);
  cache.set('target', 'b', 'k', 'v1', null);
  expect(cache.hadHistory('target', 'b', 'k')).toBe(true);
  // Per site, bucket and key: no prefix or neighbour matches.
  expect(cache.hadHistory('source', 'b', 'k')).toBe(false);
  expect(cache.hadHistory('target', 'b', 'k1')).toBe(false);
  expect(cache.hadHistory('target', 'b2', 'k')).toBe(false);
});

test('the keys remembered are bounded: the least recently noted go first', () => {
  const cache = new MarkerCache(3);
  for (const key of ['a', 'b', 'c']) cache.noteHistory('target', 'b', key);
  cache.noteHistory('target', 'b', 'a'); // noted again: now the newest
  cache.noteHistory('target', 'b', 'd');
  expect(['a', 'b', 'c', 'd'].filter((key) => cache.hadHistory('target', 'b', key))).toEqual(['a', 'c', 'd']);
});

test('by default a worker remembers MARKER_CACHE_ENTRIES versions: the oldest written go first', () => {
  const cache = new MarkerCache();
  const marker = { sourceVersionId: 's', sequence: '1', sourceSite: 'source' };
  for (let i = 0; i <= MARKER_CACHE_ENTRIES; i++) cache.set('target', 'b', `k${i}`, `v${i}`, marker);
  expect(cache.get('target', 'b', 'k0', 'v0')).toBeUndefined();
  expect(cache.hadHistory('target', 'b', 'k0')).toBe(false);
  expect(cache.get('target', 'b', 'k1', 'v1')).toEqual(marker);
  expect(cache.get('target', 'b', `k${MARKER_CACHE_ENTRIES}`, `v${MARKER_CACHE_ENTRIES}`)).toEqual(marker);
  // A bound that keeps a full cache to a few MB of live heap (bench/marker-cache-memory.ts).
  expect(MARKER_CACHE_ENTRIES).toBeLessThanOrEqual(20_000);
});

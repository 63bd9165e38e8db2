import type { VersionStatus } from '../../shared/replication-task';
import { keyDetails } from '../../workflows/key-details';

const version = (
  i: number,
  status: VersionStatus['status'],
  extra: Partial<VersionStatus> = {},
): VersionStatus => ({
  versionId: `v${i}`,
  operation: 'put',
  sequence: String(i),
  status,
  attempts: 1,
  pendingAt: '2026-01-01T00:00:00Z',
  ...extra,
});

test("a key's current details: counts, FAILED rows first with their reason, and the retry command", () => {
  const versions = [
    ...Array.from({ length: 30 }, (_, i) => version(i, 'COMPLETED', { detail: 'replicated' })),
    version(30, 'FAILED', { reason: 'AccessDenied | on the target', attempts: 20 }),
    version(31, 'PROCESSING'),
  ];
  const details = keyDetails({ site: 'dr', bucket: 'photos', key: 'a/b.jpg' }, versions, 3);
  const lines = details.split('\n');
  expect(lines[0]).toBe('**s3://photos/a/b.jpg → dr**: 30 completed, 1 in progress, 3 waiting, 1 failed');
  // The FAILED version is the first row, whatever its age; a '|' in the reason cannot break the table.
  expect(lines[4]).toBe('| v30 | put | FAILED | 20 | AccessDenied \\| on the target |');
  expect(lines.filter((l) => /^\| v\d/.test(l)).length).toBe(15);
  expect(lines.at(-1)).toBe(
    'Retry: `replication retry s3://photos/a/b.jpg --site dr` (or signal `retryFailed` from this page).',
  );
});

test('no retry line when nothing failed', () => {
  const details = keyDetails({ site: 'dr', bucket: 'b', key: 'k' }, [version(1, 'COMPLETED')], 0);
  expect(details).not.toMatch(/Retry/);
  expect(details).toMatch(/\| v1 \| put \| COMPLETED \| 1 \|/);
});

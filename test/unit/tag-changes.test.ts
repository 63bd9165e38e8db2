import type { ReplicationTask } from '../../shared/replication-task';
import { latestTagChanges } from '../../workflows/tag-changes';

const task = (
  versionId: string,
  eventTime: string,
  side?: 'target',
  operation: ReplicationTask['entry']['operation'] = 'metadata',
): ReplicationTask => ({
  entry: {
    bucket: 'b',
    key: 'k',
    versionId,
    operation,
    eventTime,
    sequence: '1',
    ...(side ? { tagsChangedOn: side } : {}),
  },
  target: { site: 'dr', bucket: 'b', ruleId: 'r', replicateDeleteMarkers: true },
});

describe("each side's latest tag change the key workflow holds", () => {
  test('the latest event time per side, whatever the order of the tasks', () => {
    // As recorded in a failing run of kill-worker-two-way-tags: echoes of the engine's own
    // writes first, then the users' later changes, all queued while the worker was down.
    expect(
      latestTagChanges('v1', [
        task('v1', '2026-11-26T11:05:31.161Z', 'target'), // an echo, the change at hand
        task('v1', '2026-11-26T11:05:31.134Z'), // an echo, waiting for its counterpart
        task('v1', '2026-11-26T11:05:34.720Z', 'target'), // queued
        undefined,
        task('v1', '2026-11-26T11:05:40.725Z'), // queued: the last change of all
      ]),
    ).toEqual({ source: '2026-11-26T11:05:40.725Z', target: '2026-11-26T11:05:34.720Z' });
  });

  test('a waiting change brings the changes it was weighed against (their tasks are done)', () => {
    const waiting: ReplicationTask = {
      ...task('v1', '2026-11-26T12:21:39.171Z'),
      tagsHeld: { source: '2026-11-26T12:21:42.608Z', target: '2026-11-26T12:21:53.947Z' },
    };
    expect(latestTagChanges('v1', [task('v1', '2026-11-26T12:21:47.943Z', 'target'), waiting])).toEqual({
      source: '2026-11-26T12:21:42.608Z',
      target: '2026-11-26T12:21:53.947Z',
    });
  });

  test("other versions' changes and other operations do not count", () => {
    expect(
      latestTagChanges('v1', [
        task('v2', '2026-11-26T10:05:00.000Z'),
        task('v1', '2026-11-26T10:06:00.000Z', undefined, 'put'),
        task('v1', '2026-11-26T10:04:00.000Z', 'target'),
      ]),
    ).toEqual({ target: '2026-11-26T10:04:00.000Z' });
    expect(latestTagChanges('v1', [])).toEqual({});
  });

  test('times compare as instants, not as strings', () => {
    // 11:04:09 at +01:00 is 10:04:09Z, a second before 10:04:10Z (as strings it sorts after).
    expect(
      latestTagChanges('v1', [
        task('v1', '2026-11-26T10:04:10.000Z'),
        task('v1', '2026-11-26T11:04:09.000+01:00'),
      ]),
    ).toEqual({ source: '2026-11-26T10:04:10.000Z' });
  });
});

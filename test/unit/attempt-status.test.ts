import { setTimeout as sleep } from 'node:timers/promises';
import { announceAttempt } from '../../activities/attempt-status';
import type { StatusEvent } from '../../shared/status-event';
import type { ReplicationTask } from '../../shared/replication-task';

const task: ReplicationTask = {
  entry: {
    bucket: 'b',
    key: 'k',
    versionId: 'v1',
    operation: 'put',
    size: 1,
    eventTime: '2026-11-26T00:00:00.000Z',
    sequence: '1',
  },
  target: { site: 's', bucket: 'tb', ruleId: 'r', replicateDeleteMarkers: true },
};
const outcome = { identity: 'v1|s|1', bytes: 1, attempts: 1, targetVersionId: 't1' };

function recorder(delayMs = 0) {
  const published: Array<Pick<StatusEvent, 'status' | 'attempt'>> = [];
  const publish = async (events: StatusEvent[]) => {
    await sleep(delayMs);
    published.push(...events.map((e) => ({ status: e.status, attempt: e.attempt })));
  };
  return { published, publish };
}

describe('what an activity attempt publishes on the status topic', () => {
  test('a quick first attempt publishes COMPLETED only', async () => {
    const { published, publish } = recorder();
    const attempt = announceAttempt(publish, task, 1, 200);
    await attempt.completed(outcome);
    await sleep(300); // the PROCESSING timer must not fire after completion
    expect(published).toEqual([{ status: 'COMPLETED', attempt: 1 }]);
  });

  test('an attempt that outlasts the delay publishes PROCESSING, then COMPLETED, in that order', async () => {
    // A slow publisher: COMPLETED must still wait for PROCESSING to be out.
    const { published, publish } = recorder(100);
    const attempt = announceAttempt(publish, task, 1, 50);
    await sleep(80);
    await attempt.completed(outcome);
    expect(published).toEqual([
      { status: 'PROCESSING', attempt: 1 },
      { status: 'COMPLETED', attempt: 1 },
    ]);
  });

  test('a failed attempt publishes PROCESSING (a retry follows), once', async () => {
    const { published, publish } = recorder();
    const attempt = announceAttempt(publish, task, 1, 20);
    await sleep(40);
    await attempt.failed();
    expect(published).toEqual([{ status: 'PROCESSING', attempt: 1 }]);
  });

  test('a retry publishes PROCESSING at once', async () => {
    const { published, publish } = recorder();
    const attempt = announceAttempt(publish, task, 3, 10_000);
    await sleep(10);
    expect(published).toEqual([{ status: 'PROCESSING', attempt: 3 }]);
    await attempt.completed(outcome);
    expect(published.map((e) => e.status)).toEqual(['PROCESSING', 'COMPLETED']);
  });
});

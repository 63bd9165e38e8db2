import { UnansweredWrites, WRITE_TTL_SECONDS } from '../../clients/s3-expiring-writes';
import { WORKFLOW_TASK_TIMEOUT } from '../../clients/replication-signals';
import { HEARTBEAT_TIMEOUT } from '../../workflows/replicate-key';

const seconds = (duration: string) => {
  const match = /^(\d+) seconds$/.exec(duration);
  if (!match) throw new Error(`not a duration in seconds: ${duration}`);
  return Number(match[1]);
};

describe('writes that expire in flight', () => {
  test.each([
    ['a regular activity', HEARTBEAT_TIMEOUT],
    ['a local activity (workflow task)', WORKFLOW_TASK_TIMEOUT],
  ])(
    'a write is dead before another worker can take over %s (timeout %s, heartbeats every 80% of it)',
    (_what, timeout) => {
      // The last heartbeat the server saw may be 0.8 × timeout old when the worker stops.
      expect(WRITE_TTL_SECONDS).toBeLessThanOrEqual(0.2 * seconds(timeout));
      expect(WRITE_TTL_SECONDS).toBeGreaterThanOrEqual(1);
    },
  );

  test('nothing unanswered: settled at once', async () => {
    const writes = new UnansweredWrites();
    expect(writes.remainingMs()).toBe(0);
    const started = performance.now();
    await writes.settled();
    expect(performance.now() - started).toBeLessThan(50);
  });

  test('settled once the latest expiry of the unanswered writes has passed', async () => {
    const writes = new UnansweredWrites();
    const now = performance.now();
    writes.noteUnanswered(now + 300);
    writes.noteUnanswered(now + 150); // an earlier expiry does not shorten the wait
    expect(writes.remainingMs(now)).toBe(300);
    await writes.settled();
    expect(performance.now() - now).toBeGreaterThanOrEqual(299);
    expect(writes.remainingMs()).toBe(0);
  });

  test('a write noted while waiting extends the wait', async () => {
    const writes = new UnansweredWrites();
    const now = performance.now();
    writes.noteUnanswered(now + 100);
    setTimeout(() => writes.noteUnanswered(performance.now() + 200), 50);
    await writes.settled();
    expect(performance.now() - now).toBeGreaterThanOrEqual(249);
  });
});

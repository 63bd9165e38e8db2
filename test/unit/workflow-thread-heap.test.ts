import { Worker } from 'node:worker_threads';
import { nodeFlagValue } from '../../shared/v8-heap';
import { withWorkflowThreadHeap } from '../../workers/workflow-thread-heap';

/** A thread that makes garbage, then reports its young generation's size in MiB (both semi-spaces). */
async function youngGenerationOfNewThread(): Promise<number> {
  const thread = new Worker(
    `const v8 = require('node:v8');
     const kept = [];
     for (let i = 0; i < 3e6; i++) { kept.push({ i }); if (kept.length > 2e5) kept.length = 0; }
     const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
     require('node:worker_threads').parentPort.postMessage(space.space_size / 1048576);`,
    { eval: true },
  );
  try {
    return await new Promise<number>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
    });
  } finally {
    await thread.terminate();
  }
}

// On the real V8: the flag is read when a thread's isolate is set up, so the thread created
// inside the window gets the small young generation and the one created after does not.
test('a thread created inside the window has a 1 MiB semi-space; one created after has V8 default', async () => {
  const inside = await withWorkflowThreadHeap(() => youngGenerationOfNewThread());
  const after = await youngGenerationOfNewThread();
  expect(inside).toBeLessThanOrEqual(2);
  expect(after).toBeGreaterThan(2);
}, 60_000);

test('concurrent creations share one window: the flag is put back once, after the last', async () => {
  const flags: string[] = [];
  const set = (f: string) => flags.push(f);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const first = withWorkflowThreadHeap(() => held, 1, set);
  const second = withWorkflowThreadHeap(async () => 'done', 1, set);
  expect(await second).toBe('done');
  expect(flags).toEqual(['--max-semi-space-size=1']);
  release();
  await first;
  // The jest process was given no --max-semi-space-size: V8's default (0) is put back.
  expect(flags).toEqual(['--max-semi-space-size=1', '--max-semi-space-size=0']);
});

test('a failing creation puts the flag back too', async () => {
  const flags: string[] = [];
  await expect(
    withWorkflowThreadHeap(
      () => Promise.reject(new Error('no Temporal')),
      1,
      (f) => flags.push(f),
    ),
  ).rejects.toThrow('no Temporal');
  expect(flags).toEqual(['--max-semi-space-size=1', '--max-semi-space-size=0']);
});

test("node's own flags are read from its arguments, then NODE_OPTIONS, either spelling", () => {
  expect(nodeFlagValue('max-semi-space-size', ['--max-semi-space-size=4'], undefined)).toBe('4');
  expect(nodeFlagValue('max-semi-space-size', ['--max_semi_space_size', '8'], undefined)).toBe('8');
  expect(nodeFlagValue('max-semi-space-size', [], '--inspect --max-semi-space-size=2')).toBe('2');
  expect(nodeFlagValue('max-semi-space-size', ['--max-semi-space-size=4'], '--max-semi-space-size=2')).toBe(
    '4',
  );
  expect(nodeFlagValue('heap-growing-percent', ['--heap-growing-percent'], undefined)).toBe('');
  expect(nodeFlagValue('max-semi-space-size', ['--max-semi-space-sizes=4'], undefined)).toBeUndefined();
});

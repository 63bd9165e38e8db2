import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseEngineConfig } from '../../config/engine-config';
import { HeapGrowthPolicy, heapGrowthPolicyFor, type HeapGrowthOptions } from '../../workers/heap-growth';
import { heapGrowthSetByOperator } from '../../shared/v8-heap';

const MiB = 1024 * 1024;

function policyWithFlags(options: Partial<HeapGrowthOptions> = {}) {
  const flags: string[] = [];
  const policy = new HeapGrowthPolicy({
    tightPercent: 50,
    streamingBytes: 8 * MiB,
    settleMs: 5000,
    setPercent: (percent) => flags.push(`--heap-growing-percent=${percent}`),
    ...options,
  });
  return { policy, flags };
}

afterEach(() => jest.useRealTimers());

test('the heap is kept tight from the start, and while the copies in progress stay under streamingBytes', () => {
  const { policy, flags } = policyWithFlags();
  expect(flags).toEqual(['--heap-growing-percent=50']);
  const ends = Array.from({ length: 100 }, () => policy.copyStarted(4096));
  const nearly = policy.copyStarted(8 * MiB - 100 * 4096 - 1);
  expect(policy.mode).toBe('tight');
  for (const end of [...ends, nearly]) end();
  expect(flags).toEqual(['--heap-growing-percent=50']);
});

test('copies adding up to streamingBytes give V8 its own growth; it is tight again only after settleMs under it', () => {
  jest.useFakeTimers();
  const { policy, flags } = policyWithFlags();
  const first = policy.copyStarted(5 * MiB);
  const second = policy.copyStarted(3 * MiB);
  expect(policy.mode).toBe('v8');
  expect(flags).toEqual(['--heap-growing-percent=50', '--heap-growing-percent=0']);
  first();
  jest.advanceTimersByTime(4000);
  // A large copy starting within the settling time keeps V8's growth, with no flip between.
  const third = policy.copyStarted(6 * MiB);
  jest.advanceTimersByTime(10_000);
  expect(policy.mode).toBe('v8');
  second();
  third();
  jest.advanceTimersByTime(4999);
  expect(policy.mode).toBe('v8');
  jest.advanceTimersByTime(1);
  expect(policy.mode).toBe('tight');
  expect(flags).toEqual([
    '--heap-growing-percent=50',
    '--heap-growing-percent=0',
    '--heap-growing-percent=50',
  ]);
});

test('a copy that ends twice (an error after its end, say) is counted out once', () => {
  jest.useFakeTimers();
  const { policy } = policyWithFlags({ settleMs: 0 });
  const big = policy.copyStarted(8 * MiB);
  const small = policy.copyStarted(1 * MiB);
  small();
  small();
  jest.runAllTimers();
  // Still 8 MiB in progress: a double count-out would have dropped it under the threshold.
  expect(policy.mode).toBe('v8');
  big();
  jest.runAllTimers();
  expect(policy.mode).toBe('tight');
});

test('a tight percent of 0 is refused: 0 is how V8 is told to choose', () => {
  expect(() => policyWithFlags({ tightPercent: 0 })).toThrow('tightPercent must be above 0');
});

test("the operator's own --heap-growing-percent, in node's arguments or NODE_OPTIONS, is left as given", () => {
  expect(heapGrowthSetByOperator(['--max-semi-space-size=4'], undefined)).toBe(false);
  expect(heapGrowthSetByOperator(['--heap-growing-percent=30'], undefined)).toBe(true);
  expect(heapGrowthSetByOperator(['--heap_growing_percent'], undefined)).toBe(true);
  expect(heapGrowthSetByOperator([], '--inspect --heap-growing-percent=30')).toBe(true);
  expect(heapGrowthSetByOperator([], '--heap-growing-percentage-not-a-flag')).toBe(false);
});

describe('in the config', () => {
  const base = {
    sourceSite: 'source',
    sites: { source: { endpoint: 'http://127.0.0.1:9000' }, west: { endpoint: 'http://127.0.0.1:9100' } },
  };

  test('the worker keeps its heap to 50% growth under 8 MiB of copies, the populator to 50% always', () => {
    const config = parseEngineConfig(base, {});
    expect(config.worker.heapGrowth).toEqual({ tightPercent: 50, streamingBytes: 8 * MiB, settleMs: 5000 });
    expect(config.populator.heapGrowingPercent).toBe(50);
  });

  test('a negative percent is refused with its path', () => {
    expect(() => parseEngineConfig({ ...base, worker: { heapGrowth: { tightPercent: -1 } } }, {})).toThrow(
      /worker\.heapGrowth\.tightPercent/,
    );
    expect(() => parseEngineConfig({ ...base, populator: { heapGrowingPercent: -5 } }, {})).toThrow(
      /populator\.heapGrowingPercent/,
    );
  });

  test('tightPercent 0 gives no policy, and says so', () => {
    const said: string[] = [];
    const logger = { info: (msg: unknown) => said.push(String(msg)), debug: () => undefined };
    expect(
      heapGrowthPolicyFor({ tightPercent: 0, streamingBytes: MiB, settleMs: 0 }, logger),
    ).toBeUndefined();
    expect(said).toEqual(['worker.heapGrowth.tightPercent is 0: V8 sizes the old generation on its own']);
  });
});

// The policy relies on V8 reading the flag at every full collection. A node whose V8 froze
// its flags after start-up, or read this one once, would make it a no-op: this checks it on
// the real V8, in a child node that traces its full collections while it makes the same
// garbage under each mode.
test("V8 follows the policy's changes at run time (a real node, --trace-gc)", () => {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--trace-gc', path.join(__dirname, 'fixtures', 'heap-growth-child.ts')],
    { encoding: 'utf8', cwd: path.resolve(__dirname, '..', '..'), timeout: 60_000 },
  );
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  // Per phase, the heap's size (MB) when each full collection started.
  const sizes: Record<string, number[]> = { tight: [], v8: [] };
  let phase: string | undefined;
  for (const line of child.stdout.split('\n')) {
    const marker = /^phase (\w+)$/.exec(line);
    if (marker) phase = marker[1];
    const full = /Mark-Compact(?: \(reduce\))? ([\d.]+) \(/.exec(line);
    if (full && phase && phase in sizes) sizes[phase]!.push(Number(full[1]));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  // Tight: more full collections, each at a smaller heap (about 1.5 times what survived).
  expect(sizes.v8!.length).toBeGreaterThan(0);
  expect(sizes.tight!.length).toBeGreaterThanOrEqual(1.5 * sizes.v8!.length);
  expect(median(sizes.v8!)).toBeGreaterThan(1.3 * median(sizes.tight!));
});

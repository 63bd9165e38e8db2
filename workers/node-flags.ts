/**
 * Node flags the worker process runs with (npm run worker, the demo, the Dockerfile, the bench).
 * The size of V8's semi-spaces (the young generation) trades CPU on small objects against
 * peak memory on large ones. At 1 MiB V8 scavenged so often that garbage collection took 10%
 * of the worker's main thread in W1. At 4 MiB, at full scale (docs/BENCHMARKS.md, "CPU per
 * object"): W1 worker CPU-ms per object 16.2 → 13.3–13.6, W1 34.8 → 39.4–39.9 objects/s, and
 * W2 peak RSS 219 → 268 MiB. The socket buffers of streaming copies wait longer for a
 * collection. A deployment that copies mostly large objects and counts every MiB can run the
 * worker with `--max-semi-space-size=1`.
 *
 * The old generation's growth is the worker's own to set, from what it copies
 * (workers/heap-growth.ts): `--heap-growing-percent=50` while it streams little, V8's own
 * growth while large copies stream. No one value fits both: 50 took W1's peak RSS from
 * 334–365 to 228–240 MiB, but doubled W2's worker CPU per 256 MiB object when set for the
 * whole process. A `--heap-growing-percent` given here or in NODE_OPTIONS turns the policy off.
 *
 * The semi-space size here is the main thread's: the workflow threads are created with 1 MiB
 * (workers/workflow-thread-heap.ts).
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

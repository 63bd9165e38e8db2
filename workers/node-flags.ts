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
 * The other way round, a deployment of mostly small objects can add `--heap-growing-percent=50`:
 * V8 then lets the old generation grow to 1.5 times what survived the last full collection
 * instead of letting garbage pile up to several times that. W1 at BENCH_SCALE=0.4: worker peak
 * RSS 334–365 / 345–357 → 233 / 235 MiB (W1 / direct) at about the same CPU per object. It is
 * not the default because large streaming copies then collect far more often: W2's worker CPU
 * per 256 MiB object doubled (0.6 → 1.1–1.2 s) and its RSS did not fall; at 25%, W1's CPU rose
 * too.
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

/**
 * Node flags the worker process runs with (npm run worker, the demo, the Dockerfile, the bench).
 * The young generation's size trades CPU for small objects against memory for large ones:
 * a 1 MiB semi-space frees the socket buffers of streaming copies promptly (W2 peak RSS 217
 * instead of 261 MiB at 16 MiB) but made V8 scavenge so often that garbage collection took
 * 10% of the worker's main thread in W1. 4 MiB, measured at BENCH_SCALE=0.4 on the same
 * code (docs/BENCHMARKS.md, "CPU per object"): W1 worker CPU-ms per object 17.7 → 15.8
 * (direct journal 16.1 → 13.7), W2 peak RSS 248 → 239 MiB at the same throughput.
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

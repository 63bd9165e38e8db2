/**
 * Node flags the worker process runs with (npm run worker, the demo, the Dockerfile, the bench).
 * A 1 MiB young generation makes V8 scavenge often, so the socket buffers of streaming copies
 * are freed promptly instead of piling up between collections: during W2 (8 × 256 MiB) peak
 * RSS went from 261 to 217 MiB at the same throughput (docs/BENCHMARKS.md).
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=1'] as const;

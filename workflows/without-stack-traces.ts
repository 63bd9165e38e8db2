/**
 * Turns off stack capture in the workflow context. The worker preloads this module first
 * (workers/workflow-bundle-options.ts) unless `CRR_WORKFLOW_STACK_TRACES=1`.
 *
 * Why: the Temporal SDK hooks every promise the workflow context creates (its own and ours) to
 * serve the `__stack_trace` query, and for each one it captures and formats a stack trace. No
 * worker option turns that hook off. With no frames to capture, the hook's work shrinks to a
 * few map operations: 6.25 against 8.15 CPU-ms per replayed one-version workflow
 * (`npm run bench:workflow`, docs/BENCHMARKS.md "CPU per object").
 *
 * What it costs: errors thrown in workflow code carry their message and no frames, and the
 * Web UI's "Stack Trace" tab is empty. The key workflows say where they stand through their
 * own `replicationState` query (`replication status`, the API). A worker started with
 * `CRR_WORKFLOW_STACK_TRACES=1` bundles the workflow code with stack traces (for debugging
 * the workflow code itself).
 *
 * `Reflect.set` rather than an assignment: where the SDK has already frozen the context's
 * globals (modules not preloaded), an assignment would throw and fail every workflow task;
 * `Reflect.set` then changes nothing and the stacks stay.
 */
Reflect.set(Error, 'stackTraceLimit', 0);

export {};

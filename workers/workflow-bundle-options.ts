import type { BundleOptions } from '@temporalio/worker';

/**
 * Whether the workflow code keeps stack traces: `CRR_WORKFLOW_STACK_TRACES=1` where the code
 * is bundled (the worker, or `npm run build`). Off by default, for the CPU of the SDK's
 * per-promise hook (workflows/without-stack-traces.ts).
 */
export function workflowStackTracesWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CRR_WORKFLOW_STACK_TRACES === '1';
}

/**
 * How the workflow code is bundled: the same for production workers (`npm run build`), a
 * worker's own fallback bundle, the fault suite and the replay test, so that what is tested is
 * what runs.
 *
 * The worker reuses one V8 context for every workflow, and by default evaluates the modules
 * of the workflow code again for each new workflow (21 modules: ours and the SDK's API
 * surface). Preloading them evaluates them once and shares them: about 0.4 CPU-ms less per
 * workflow (docs/BENCHMARKS.md, "CPU per object"). It is safe only for modules without
 * per-workflow state at module scope; test/unit/workflow-module-state.test.ts keeps ours so.
 * The SDK deep-freezes what shared modules export, so a workflow that mutated an exported
 * object would throw rather than leak into the next one.
 *
 * Stack capture is turned off first, before the SDK freezes the context's globals, unless
 * `stackTraces` is asked for.
 */
export function workflowBundleOptions(
  stackTraces = workflowStackTracesWanted(),
): Pick<BundleOptions, 'workflowsPath' | 'preloadModules'> {
  const workflowsPath = require.resolve('../workflows');
  const withoutStackTraces = stackTraces ? [] : [require.resolve('../workflows/without-stack-traces')];
  return { workflowsPath, preloadModules: [...withoutStackTraces, '@temporalio/workflow', workflowsPath] };
}

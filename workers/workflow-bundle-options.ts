import type { BundleOptions } from '@temporalio/worker';

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
 */
export function workflowBundleOptions(): Pick<BundleOptions, 'workflowsPath' | 'preloadModules'> {
  const workflowsPath = require.resolve('../workflows');
  return { workflowsPath, preloadModules: ['@temporalio/workflow', workflowsPath] };
}

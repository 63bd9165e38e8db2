import { bundleWorkflowCode, type BundleOptions, type Logger } from '@temporalio/worker';

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

/**
 * Bundles the workflow code as workers run it: `npm run build`, a worker without a pre-built
 * bundle, the fault suite and the replay test all call this.
 *
 * Without stack traces the bundle's inline source map is replaced by an empty one. The map
 * serves only to rewrite stack frames, and the workflow context captures none. Yet every
 * workflow thread (one per `Worker`: the control queue's and each site's) parses it and keeps
 * it: a worker serving one site starts with 30 MiB less RSS without it, and peaks 35–60 MiB
 * lower in W1 (docs/BENCHMARKS.md, "CPU per object"). The SDK requires an inline map, so an
 * empty one stays, with the bundle's file name.
 */
export async function bundleShippedWorkflowCode(
  options: { stackTraces?: boolean; logger?: Logger } = {},
): Promise<{ code: string }> {
  const stackTraces = options.stackTraces ?? workflowStackTracesWanted();
  const { code } = await bundleWorkflowCode({
    ...workflowBundleOptions(stackTraces),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return { code: stackTraces ? code : withEmptySourceMap(code) };
}

const INLINE_SOURCE_MAP = '//# sourceMappingURL=data:';

/** The code with its inline source map (the bundle's last line) replaced by one without mappings. */
export function withEmptySourceMap(code: string): string {
  const at = code.lastIndexOf(INLINE_SOURCE_MAP);
  const base64 = at < 0 ? -1 : code.indexOf('base64,', at);
  if (base64 < 0) throw new Error('the workflow bundle has no inline source map to replace');
  const map = JSON.parse(Buffer.from(code.slice(base64 + 'base64,'.length).trim(), 'base64').toString()) as {
    file?: string;
  };
  const empty = { version: 3, file: map.file, sources: [], names: [], mappings: '' };
  return `${code.slice(0, at)}${INLINE_SOURCE_MAP}application/json;base64,${Buffer.from(JSON.stringify(empty)).toString('base64')}`;
}

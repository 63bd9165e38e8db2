import fs from 'node:fs';
import vm from 'node:vm';
import ts from 'typescript';
import {
  bundleShippedWorkflowCode,
  withEmptySourceMap,
  workflowBundleOptions,
  workflowStackTracesWanted,
} from '../../workers/workflow-bundle-options';

/**
 * The workflow code runs without stack capture unless CRR_WORKFLOW_STACK_TRACES=1
 * (workflows/without-stack-traces.ts). test/e2e/journal-and-failures.test.ts checks a live
 * run's `__stack_trace` query; these check the choice and the module's behaviour in a context
 * whose globals are already frozen.
 */

const WITHOUT_STACKS = require.resolve('../../workflows/without-stack-traces');

test('stack capture is off unless CRR_WORKFLOW_STACK_TRACES=1', () => {
  expect(workflowStackTracesWanted({})).toBe(false);
  expect(workflowStackTracesWanted({ CRR_WORKFLOW_STACK_TRACES: '0' })).toBe(false);
  expect(workflowStackTracesWanted({ CRR_WORKFLOW_STACK_TRACES: '1' })).toBe(true);
});

test('the module that turns stacks off is preloaded first, before the SDK freezes the globals', () => {
  const off = workflowBundleOptions(false);
  expect(off.preloadModules?.[0]).toBe(WITHOUT_STACKS);
  expect(off.preloadModules).toContain(off.workflowsPath);
  const on = workflowBundleOptions(true);
  expect(on.preloadModules).not.toContain(WITHOUT_STACKS);
  expect(on.preloadModules).toContain(on.workflowsPath);
});

test('where Error is already frozen, the module leaves stacks as they are instead of throwing', () => {
  // The module as the bundle holds it: compiled to a strict-mode CommonJS module.
  const compiled = ts.transpileModule(fs.readFileSync(WITHOUT_STACKS, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, strict: true },
  }).outputText;
  const evaluateIn = (context: vm.Context) => {
    vm.runInContext(`(function (exports) { ${compiled} })({})`, context);
    return vm.runInContext("new Error('x').stack", context) as string;
  };
  expect(evaluateIn(vm.createContext({}))).toBe('Error: x');
  const frozen = vm.createContext({});
  vm.runInContext('Object.freeze(Error)', frozen);
  expect(evaluateIn(frozen)).toMatch(/^Error: x\n\s+at /);
});

const INLINE = '//# sourceMappingURL=data:application/json;charset=utf-8;base64,';
const inlineMap = (code: string) => {
  const at = code.lastIndexOf('//# sourceMappingURL=data:');
  expect(at).toBeGreaterThan(0);
  const data = code.slice(code.indexOf('base64,', at) + 'base64,'.length);
  return JSON.parse(Buffer.from(data, 'base64').toString()) as {
    file?: string;
    sources: string[];
    mappings: string;
  };
};

test('the empty source map keeps the code and the file name, and nothing else', () => {
  const map = {
    version: 3,
    file: 'workflow-bundle.js',
    sources: ['webpack://a.ts'],
    names: ['x'],
    mappings: 'AAAA',
  };
  const body = 'var a = 1; // sourceMappingURL mentioned in a comment\n';
  const code = `${body}${INLINE}${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
  const stripped = withEmptySourceMap(code);
  expect(stripped.startsWith(body)).toBe(true);
  expect(inlineMap(stripped)).toEqual({
    version: 3,
    file: 'workflow-bundle.js',
    sources: [],
    names: [],
    mappings: '',
  });
  expect(() => withEmptySourceMap(body)).toThrow(/no inline source map/);
});

test('the shipped bundle carries an empty source map, and the one with stack traces its full map', async () => {
  const logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };
  // One after the other: the SDK's bundler does not take two bundles at once in one process.
  const shipped = await bundleShippedWorkflowCode({ stackTraces: false, logger });
  const withStacks = await bundleShippedWorkflowCode({ stackTraces: true, logger });
  expect(inlineMap(shipped.code)).toMatchObject({ sources: [], mappings: '' });
  const full = inlineMap(withStacks.code);
  expect(full.mappings.length).toBeGreaterThan(1000);
  expect(full.sources.some((s) => s.includes('workflows/replicate-key'))).toBe(true);
  // The map was most of a bundle: the two differ otherwise only by the module that turns stacks off.
  expect(shipped.code.length).toBeLessThan(withStacks.code.length / 2);
}, 120_000);

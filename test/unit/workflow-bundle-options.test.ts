import fs from 'node:fs';
import vm from 'node:vm';
import ts from 'typescript';
import { workflowBundleOptions, workflowStackTracesWanted } from '../../workers/workflow-bundle-options';

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

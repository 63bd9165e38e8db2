import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { workflowBundleOptions } from '../../workers/workflow-bundle-options';

/**
 * The workflow modules are preloaded: evaluated once and shared by every workflow the worker
 * runs (workers/workflow-bundle-options.ts). State at module scope would then leak from one
 * workflow to the next and break determinism on replay. The SDK deep-freezes exported objects,
 * which catches mutation of those; it cannot freeze a `let`, a Map or a Set, so this test keeps
 * them out of every module the workflow code loads.
 */

const ROOT = path.resolve(__dirname, '../..');

/** What at the top of a module could hold per-workflow state, with its line. */
function moduleStateIn(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const where = (node: ts.Node) =>
    `${path.relative(ROOT, fileName)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement)) {
      const flags = statement.declarationList.flags;
      if (!(flags & ts.NodeFlags.Const)) found.push(`${where(statement)}: a module-level let/var`);
      for (const declaration of statement.declarationList.declarations) {
        if (declaration.initializer && ts.isNewExpression(declaration.initializer))
          found.push(`${where(declaration)}: a module-level instance (new …)`);
      }
    }
    if (ts.isClassDeclaration(statement)) {
      for (const member of statement.members) {
        const isStatic = ts.getCombinedModifierFlags(member as ts.Declaration) & ts.ModifierFlags.Static;
        const isReadonly = ts.getCombinedModifierFlags(member as ts.Declaration) & ts.ModifierFlags.Readonly;
        if (ts.isPropertyDeclaration(member) && isStatic && !isReadonly)
          found.push(`${where(member)}: a mutable static property`);
      }
    }
  }
  return found;
}

/** Every module of ours the workflow code loads at run time: what the bundle preloads, and its imports. */
function workflowModules(): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    for (const statement of source.statements) {
      const isRuntimeImport =
        (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) ||
        (ts.isExportDeclaration(statement) && !statement.isTypeOnly && statement.moduleSpecifier);
      if (!isRuntimeImport) continue;
      const specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
      if (!specifier.startsWith('.')) continue;
      const base = path.resolve(path.dirname(file), specifier);
      const resolved = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
      if (!resolved) throw new Error(`${path.relative(ROOT, file)}: cannot resolve ${specifier}`);
      visit(resolved);
    }
  };
  for (const preloaded of workflowBundleOptions(false).preloadModules ?? []) {
    if (path.isAbsolute(preloaded)) visit(preloaded);
  }
  return [...seen].sort();
}

test('the check finds module-level state when there is some', () => {
  const text = [
    'let counter = 0;',
    'const cache = new Map<string, number>();',
    'export const LIMIT = 3;',
    'class Book { static made = 0; static readonly MAX = 1; }',
  ].join('\n');
  expect(moduleStateIn(path.join(ROOT, 'workflows/example.ts'), text)).toEqual([
    'workflows/example.ts:1: a module-level let/var',
    'workflows/example.ts:2: a module-level instance (new …)',
    'workflows/example.ts:4: a mutable static property',
  ]);
});

test('the workflow code and what it imports hold no per-workflow state at module scope', () => {
  const modules = workflowModules();
  // The walk reaches the workflows and the shared modules they use (not only index.ts).
  expect(modules.map((f) => path.relative(ROOT, f))).toEqual(
    expect.arrayContaining([
      'workflows/without-stack-traces.ts',
      'workflows/replicate-key.ts',
      'workflows/version-book.ts',
      'shared/workflow-contract.ts',
    ]),
  );
  const found = modules.flatMap((file) => moduleStateIn(file, fs.readFileSync(file, 'utf8')));
  expect(found).toEqual([]);
});

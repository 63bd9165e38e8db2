import type { z } from 'zod';

/** `a.b.0.c` for a zod issue path. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

/** One readable line for a zod issue: the field and what is wrong with it. */
export function describeIssue(
  issue: z.core.$ZodIssue,
  prefix: readonly PropertyKey[] = [],
): { field: string; problem: string } {
  const field = issuePath([...prefix, ...issue.path]) || '(document)';
  const typed = /^Invalid input: expected (\w+), received (\w+)$/.exec(issue.message);
  let problem = issue.message;
  if (typed) problem = typed[2] === 'undefined' ? 'is missing' : `must be a ${typed[1]} (got ${typed[2]})`;
  return { field, problem };
}

/** Every issue as `<field>: <problem>`, one per line (config files, API bodies). */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const { field, problem } = describeIssue(issue);
      return `${field === '(document)' ? '(root)' : field}: ${problem}`;
    })
    .join('\n');
}

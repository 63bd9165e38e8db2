import { describeCheck, isClean, type ScenarioCheck } from './settle';
import type { ScenarioEngine } from './engine';
import type { FaultStack } from './fault-stack';
import { startFaultStack } from './fault-stack';
import { recordResult, ZERO_FIGURES, type Figures, type ScenarioResult } from './results';

/** How many times each scenario runs (FAULT_RUNS, default 1; the full run uses 3). */
export const FAULT_RUNS = Math.max(1, Number(process.env.FAULT_RUNS ?? '1') || 1);
/** Seconds of steady load in the kill scenarios (FAULT_LOAD_SECONDS, default 45). */
export const LOAD_SECONDS = Math.max(10, Number(process.env.FAULT_LOAD_SECONDS ?? '45') || 45);
/** Comma-separated scenario ids (or id prefixes) to run; the others are reported as skipped. */
const ONLY = process.env.FAULT_ONLY?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
/** FAULT_SET=ci: only the scenarios marked `ci` (the reduced set .ci/run adds after `npm test`). */
const SET = process.env.FAULT_SET;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ScenarioSpec {
  id: string;
  title: string;
  /** Jest timeout of one run; the scenario's own deadlines stay well inside it. */
  timeoutMs: number;
  /** Part of the reduced set CI runs (FAULT_SET=ci): fast enough for every build. */
  ci?: boolean;
}

/** What one run of a scenario measured and found. */
export class ScenarioRun {
  figures?: Figures;
  readonly recovery: Record<string, number | undefined> = {};
  readonly facts: Record<string, unknown> = {};
  readonly problems: string[] = [];
  readonly findings: ScenarioResult['findings'] = [];
  engine?: ScenarioEngine;

  constructor(
    readonly stack: FaultStack,
    readonly run: number,
  ) {}

  /** Adds a per-key check's figures; a check that is not all zero is a problem, described in full. */
  check(check: ScenarioCheck, label = 'per-key check'): void {
    const f = (this.figures ??= { ...ZERO_FIGURES });
    f.lost += check.lost;
    f.duplicated += check.duplicated;
    f.reordered += check.reordered;
    f.extraDeleteMarkers += check.extraDeleteMarkers;
    f.missingDeleteMarkers += check.missingDeleteMarkers;
    f.latestMismatch += check.latestMismatch;
    f.stuck += check.stuck;
    f.failed += check.failed;
    f.unexpected += check.unexpected;
    f.metadataMismatch += check.metadataMismatch;
    this.recovery.settleMs ??= check.settle.settleMs;
    this.facts.checkedKeys = ((this.facts.checkedKeys as number | undefined) ?? 0) + check.keys;
    this.facts.sourceVersions =
      ((this.facts.sourceVersions as number | undefined) ?? 0) + check.sourceVersions;
    this.facts.sourceDeleteMarkers =
      ((this.facts.sourceDeleteMarkers as number | undefined) ?? 0) + check.sourceDeleteMarkers;
    const clip = <T>(items: T[]) =>
      items.length > 60 ? [...items.slice(0, 30), ...items.slice(-30)] : items;
    this.findings.push(
      ...check.findings.slice(0, Math.max(0, 20 - this.findings.length)).map((f) => ({
        ...f,
        lost: clip(f.lost),
        duplicated: clip(f.duplicated),
        unexpected: clip(f.unexpected),
        source: clip(f.source),
        target: clip(f.target),
      })),
    );
    if (!isClean(check) && this.engine) this.problems.push(`${label}: ${describeCheck(check, this.engine)}`);
    else if (!isClean(check)) this.problems.push(`${label}: not clean`);
  }

  /** A scenario-specific expectation; a false one is recorded (the run goes on to measure the rest). */
  expect(condition: boolean, message: string): void {
    if (!condition) this.problems.push(message);
  }
}

export interface FileStack {
  get(): FaultStack;
  markFailed(): void;
}

/**
 * One stack for the file (started in beforeAll, so a missing server fails every test of the
 * file with instructions), stopped in afterAll; the logs are kept when a run failed.
 */
export function useFaultStack(name: string): FileStack {
  let stack: FaultStack | undefined;
  let failures = 0;
  beforeAll(async () => {
    stack = await startFaultStack(name);
  }, 300_000);
  afterAll(async () => {
    await stack?.stop({ keepLogs: failures > 0 });
  }, 120_000);
  return {
    get() {
      if (!stack) throw new Error('the fault stack did not start (see the first failure of this file)');
      return stack;
    },
    markFailed() {
      failures += 1;
    },
  };
}

/**
 * Registers a scenario: FAULT_RUNS tests, each given a fresh ScenarioRun. Figures and
 * problems are written to the run's results whatever happens; the test fails with every
 * problem found.
 */
export function scenario(
  spec: ScenarioSpec,
  stack: FileStack,
  body: (run: ScenarioRun) => Promise<void>,
): void {
  const selected = ONLY
    ? ONLY.some((id) => spec.id === id || spec.id.startsWith(id))
    : SET === 'ci'
      ? spec.ci === true
      : true;
  for (let run = 1; run <= FAULT_RUNS; run++) {
    const name = `${spec.id}: ${spec.title}${FAULT_RUNS > 1 ? ` (run ${run}/${FAULT_RUNS})` : ''}`;
    if (!selected) {
      test.skip(`${name} [not selected: ${ONLY ? 'FAULT_ONLY' : 'FAULT_SET=ci'}]`, () => undefined);
      continue;
    }
    test(
      name,
      async () => {
        const started = Date.now();
        const r = new ScenarioRun(stack.get(), run);
        try {
          await body(r);
        } catch (err) {
          r.problems.push(`scenario aborted: ${(err as Error).stack ?? String(err)}`);
        } finally {
          await r.engine?.stop().catch(() => undefined);
          recordResult({
            scenario: spec.id,
            title: spec.title,
            run,
            passed: r.problems.length === 0,
            startedAt: new Date(started).toISOString(),
            durationMs: Date.now() - started,
            figures: r.figures,
            recovery: r.recovery,
            facts: r.facts,
            problems: r.problems,
            findings: r.findings,
          });
          process.stderr.write(
            `[faults] ${name}: ${r.problems.length === 0 ? 'pass' : 'FAIL'} in ${((Date.now() - started) / 1000).toFixed(1)} s ${JSON.stringify({ figures: r.figures, recovery: r.recovery })}\n`,
          );
        }
        if (r.problems.length > 0) {
          stack.markFailed();
          throw new Error(r.problems.join('\n\n'));
        }
      },
      spec.timeoutMs,
    );
  }
}

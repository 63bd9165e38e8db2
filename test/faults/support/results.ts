import fs from 'node:fs';
import path from 'node:path';
import type { KeyFinding } from '../../support/replica-check';

export const RESULTS_DIR = path.resolve(__dirname, '..', 'results');

/** The per-key figures of a scenario run; every one is expected to be 0. */
export interface Figures {
  lost: number;
  duplicated: number;
  reordered: number;
  extraDeleteMarkers: number;
  missingDeleteMarkers: number;
  latestMismatch: number;
  stuck: number;
  failed: number;
  unexpected: number;
  metadataMismatch: number;
}

export const ZERO_FIGURES: Figures = {
  lost: 0,
  duplicated: 0,
  reordered: 0,
  extraDeleteMarkers: 0,
  missingDeleteMarkers: 0,
  latestMismatch: 0,
  stuck: 0,
  failed: 0,
  unexpected: 0,
  metadataMismatch: 0,
};

export interface ScenarioResult {
  scenario: string;
  title: string;
  run: number;
  passed: boolean;
  startedAt: string;
  durationMs: number;
  figures?: Figures;
  /** Times in ms: downtime, time to resume, longest stall, time to settle, next attempt... */
  recovery: Record<string, number | undefined>;
  /** Other measured facts: load figures, dead letters, parts re-sent, sizes... */
  facts: Record<string, unknown>;
  /** Why the run failed: each a precise message (keys, versions, both sides' histories). */
  problems: string[];
  /** Keys with discrepancies (at most 20), with both histories. */
  findings: KeyFinding[];
}

/** Appends one scenario run to the run's parts file (FAULT_RESULTS_PARTS, set by the global setup). */
export function recordResult(result: ScenarioResult): void {
  const parts = process.env.FAULT_RESULTS_PARTS;
  const line = `${JSON.stringify(result)}\n`;
  if (parts) {
    fs.appendFileSync(parts, line);
  } else {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    fs.appendFileSync(path.join(RESULTS_DIR, 'unaggregated.jsonl'), line);
  }
}

export function readParts(file: string): ScenarioResult[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ScenarioResult);
}

const seconds = (ms: number | undefined) => (ms === undefined ? '' : `${(ms / 1000).toFixed(1)}`);

/** The main recovery figure of a run, as `name=seconds` pairs. */
function recoveryText(r: ScenarioResult): string {
  return Object.entries(r.recovery)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${seconds(v)}s`)
    .join(' ');
}

/** A plain-text table (also valid Markdown) of every scenario run. */
export function renderTable(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'run',
    'result',
    'lost',
    'dup',
    'reord',
    '+DM',
    '-DM',
    'latest',
    'stuck',
    'failed',
    'other',
    'checks',
    'recovery',
    'time',
  ];
  const rows = results.map((r) => {
    const f = r.figures;
    const n = (v: number | undefined) => (f === undefined ? '-' : String(v ?? 0));
    return [
      r.scenario,
      String(r.run),
      r.passed ? 'pass' : 'FAIL',
      n(f?.lost),
      n(f?.duplicated),
      n(f?.reordered),
      n(f?.extraDeleteMarkers),
      n(f?.missingDeleteMarkers),
      n(f?.latestMismatch),
      n(f?.stuck),
      n(f?.failed),
      f === undefined ? '-' : String(f.unexpected + f.metadataMismatch),
      // Scenario-specific expectations that failed (dead letters, attempt delays, bytes...).
      String(r.problems.filter((p) => !p.startsWith('per-key check')).length),
      recoveryText(r),
      `${seconds(r.durationMs)}s`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

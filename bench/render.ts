/**
 * Re-renders docs/BENCHMARKS.md from a results file (e.g. after editing bench/ANALYSIS.md):
 * `npx tsx bench/render.ts bench/results/<date>.json`. It rewrites that same results file unchanged.
 */
import fs from 'node:fs';
import { writeReport, type BenchResult } from './report';

const file = process.argv[2];
if (!file) {
  console.error('usage: tsx bench/render.ts bench/results/<date>.json');
  process.exit(2);
}
void writeReport(JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult, (line) => console.log(line));

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import { readParts, renderTable, RESULTS_DIR } from './support/results';

/** After the fault suite: one JSON file of every scenario run's figures, and the table. */
export default async function globalTeardown(): Promise<void> {
  const parts = process.env.FAULT_RESULTS_PARTS;
  if (!parts) return;
  const results = readParts(parts);
  if (results.length > 0) {
    const started = process.env.FAULT_RUN_STARTED ?? new Date().toISOString();
    let commit: string | undefined;
    try {
      commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      commit = undefined;
    }
    const report = {
      startedAt: started,
      finishedAt: new Date().toISOString(),
      durationMs: Date.now() - new Date(started).getTime(),
      faultRuns: Number(process.env.FAULT_RUNS ?? '1'),
      loadSeconds: Number(process.env.FAULT_LOAD_SECONDS ?? '45'),
      only: process.env.FAULT_ONLY ?? null,
      commit,
      workingTreeChanged: (() => {
        try {
          return execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' }).trim().length > 0;
        } catch {
          return null;
        }
      })(),
      host: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      passed: results.filter((r) => r.passed).length,
      failed: results.filter((r) => !r.passed).length,
      scenarios: results,
    };
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `${started.replace(/[:.]/g, '-')}.json`);
    // Formatted as the repository's Prettier check expects, so `npm run lint` stays green.
    const options = (await resolveConfig(file)) ?? {};
    fs.writeFileSync(file, await format(JSON.stringify(report), { ...options, filepath: file }));
    process.stdout.write(
      `\n[faults] ${report.passed} scenario runs passed, ${report.failed} failed, in ${(report.durationMs / 1000).toFixed(0)} s; figures in ${path.relative(process.cwd(), file)}\n\n${renderTable(results)}\n\n`,
    );
  }
  if (process.env.FAULT_RUN_DIR) fs.rmSync(process.env.FAULT_RUN_DIR, { recursive: true, force: true });
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleShippedWorkflowCode } from '../../workers/workflow-bundle-options';

/**
 * Before the fault suite: bundles the workflow code once (as `npm run build` does for
 * production workers), so that every worker process the suite starts and restarts begins
 * polling in seconds instead of re-bundling; and opens the file the scenarios append their
 * figures to.
 */
export default async function globalSetup(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-faults-run-'));
  const started = Date.now();
  const { code } = await bundleShippedWorkflowCode({
    logger: {
      trace() {},
      debug() {},
      info() {},
      warn() {},
      error: (m: string) => process.stderr.write(`${m}\n`),
      log() {},
    } as never,
  });
  const bundle = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundle, code);
  process.env.CRR_FAULT_WORKFLOW_BUNDLE = bundle;
  process.env.FAULT_RESULTS_PARTS = path.join(dir, 'results.jsonl');
  process.env.FAULT_RUN_STARTED = new Date().toISOString();
  process.env.FAULT_RUN_DIR = dir;
  process.stderr.write(`\n[faults] workflow code bundled in ${Date.now() - started} ms; run folder ${dir}\n`);
}

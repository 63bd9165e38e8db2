/**
 * Pre-bundles the workflow code for production workers (`npm run build`), so that a worker
 * starts without webpack and runs exactly the code that was built and tested.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleShippedWorkflowCode } from '../workers/workflow-bundle-options';

async function main(): Promise<void> {
  const { code } = await bundleShippedWorkflowCode();
  const out = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  console.log(`workflow bundle: ${out} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, type RunningStack } from '../stack/stack';

declare global {
  var __CRR_TEST_STACK__: RunningStack | undefined;
}

/**
 * Starts one real stack (Temporal, Kafka, two MinIO sites) on free ports for the whole test
 * run and hands its address to the tests through CRR_TEST_STACK. Unit-only runs skip it.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.CRR_UNIT_ONLY === '1') return;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-test-stack-'));
  const started = Date.now();
  const stack = await startStack({
    stateDir,
    ports: 'free',
    log: (line) => process.stderr.write(`[test stack] ${line}\n`),
  });
  process.stderr.write(`\n[test stack] ready in ${Date.now() - started} ms, logs in ${stack.info.logDir}\n`);
  globalThis.__CRR_TEST_STACK__ = stack;
  process.env.CRR_TEST_STACK = JSON.stringify(stack.info);
}

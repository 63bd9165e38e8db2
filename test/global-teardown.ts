export default async function globalTeardown(): Promise<void> {
  const stack = globalThis.__CRR_TEST_STACK__;
  if (!stack) return;
  await stack.stop();
  if (process.env.CRR_KEEP_TEST_STACK !== '1') {
    const fs = await import('node:fs');
    fs.rmSync(stack.info.stateDir, { recursive: true, force: true });
  }
}

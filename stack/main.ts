/**
 * `npm run stack`: runs Temporal (with its Web UI), Kafka and the two MinIO sites in the
 * foreground until Ctrl-C, which stops all of them.
 */
import { defaultStateDir } from './paths';
import { startStack } from './stack';

async function main(): Promise<void> {
  const log = (line: string) => console.log(`[stack] ${line}`);
  const started = Date.now();
  const stack = await startStack({ stateDir: defaultStateDir(), ports: 'default', log });
  const { info } = stack;
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  log(`Temporal  ${info.temporal.address}  (Web UI ${info.temporal.uiUrl ?? 'external'})`);
  log(`Kafka     ${info.kafka.brokers.join(',')}  (journal topic ${info.topics.journal})`);
  log(`source S3 ${info.sites.source.endpoint}  (console ${info.sites.source.consoleUrl ?? '-'})`);
  log(`target S3 ${info.sites.target.endpoint}  (console ${info.sites.target.consoleUrl ?? '-'})`);
  log(`logs in   ${info.logDir}; connection details in ${info.stateDir}/stack.json`);
  log('press Ctrl-C to stop');
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping...');
    await stack.stop();
    log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  setInterval(() => undefined, 1 << 30);
}

main().catch((err: unknown) => {
  console.error(`[stack] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

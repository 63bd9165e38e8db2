/**
 * kill -9 of each moving part during a steady load of overwrites and deletes on 200 keys
 * (about 20 changes/s, unicode/space/%/+/XML/1 KiB keys among them), restarted in place a
 * few seconds later; then the per-key check of both buckets.
 */
import { ScenarioEngine, type EngineOptions } from './support/engine';
import { RequestHoldingProxy } from '../support/request-holding-proxy';
import { LoadGenerator, loadKeys } from './support/load';
import { ProgressMonitor } from './support/progress';
import { LOAD_SECONDS, scenario, sleep, useFaultStack, type ScenarioRun } from './support/scenario';
import { settleAndCheck } from './support/settle';
import { waitForSourceEventQueue } from './support/waits';

const stack = useFaultStack('kill-under-load');
const DOWN_MS = 5_000;

type Victim = 'worker' | 'populator' | 'temporal' | 'kafka' | 'target';

const victims: Array<{ victim: Victim; what: string }> = [
  { victim: 'worker', what: 'the worker process' },
  { victim: 'populator', what: 'the populator process' },
  { victim: 'temporal', what: 'the Temporal server' },
  { victim: 'kafka', what: 'the Kafka broker' },
  { victim: 'target', what: 'the target MinIO site' },
];

/**
 * The load on 200 keys with `fault` injected a third of the way in; then the same checks for
 * every fault: both engine processes still up, the journal complete, the per-key check, and
 * when replication resumed after `fault` returned.
 */
async function underLoad(
  run: ScenarioRun,
  id: string,
  fault: (engine: ScenarioEngine) => Promise<{ downAt: number; readyAt: number }>,
  options: EngineOptions = {},
): Promise<void> {
  const s = run.stack;
  const engine = (run.engine = new ScenarioEngine(s, id, options));
  await engine.start();
  const load = new LoadGenerator(s.source, engine.sourceBucket, loadKeys(200), { rate: 20 });
  const monitor = new ProgressMonitor(s.target, engine.targetBucket);
  monitor.start();
  load.start();
  // A third of the way in, so that the load goes on for a while after the recovery.
  await sleep((LOAD_SECONDS * 1000) / 3);
  const { downAt, readyAt } = await fault(engine);
  run.recovery.downMs = readyAt - downAt;
  const remaining = load.startedAt + LOAD_SECONDS * 1000 - Date.now();
  await sleep(Math.max(0, remaining));
  await load.stop();
  run.facts.load = load.summary();
  load.writeLog(`${engine.dir}/load-ops.jsonl`);
  const exited = engine.processes.filter((p) => !p.running);
  run.expect(
    exited.length === 0,
    `an engine process exited on its own during the scenario (${exited.map((p) => p.name).join(', ')}); last lines:\n${exited
      .flatMap((p) => p.grep(/./, 10))
      .join('\n')}`,
  );
  // The journal itself must be complete before the engine is judged: MinIO replays the
  // events it queued on disk during a Kafka outage on its own schedule.
  const journal = await waitForSourceEventQueue(s, 180_000);
  run.facts.sourceEventQueue = journal;
  run.expect(
    journal.ok,
    `the source MinIO still held ${journal.queued} journal events in its queue ${Math.round(journal.ms / 1000)} s after the load (not delivered to Kafka: not the engine's loss)`,
  );
  const check = await settleAndCheck(s, engine, { deleteMarkers: true, deadlineMs: 300_000 });
  await monitor.stop();
  const resumed = monitor.firstProgressAfter(readyAt);
  run.recovery.resumeMs = resumed === undefined ? undefined : resumed - readyAt;
  run.recovery.longestStallMs = monitor.longestStall(load.startedAt, load.stoppedAt);
  run.check(check);
  run.expect(
    resumed !== undefined,
    `replication never resumed after the fault ended (target unchanged since ${new Date(readyAt).toISOString()})`,
  );
}

for (const { victim, what } of victims) {
  scenario(
    {
      id: `kill-${victim}`,
      ci: true,
      title: `kill -9 of ${what} under load, restarted in place after ${DOWN_MS / 1000} s`,
      timeoutMs: (LOAD_SECONDS + 600) * 1000,
    },
    stack,
    (run) =>
      underLoad(run, `kill-${victim}`, async (engine) => {
        if (victim === 'worker' || victim === 'populator') {
          const p = engine[victim];
          const downAt = await p.kill9();
          await sleep(DOWN_MS);
          await p.restart();
          return { downAt, readyAt: Date.now() };
        }
        const { killedAt, readyAt } = await run.stack.crashAndRestart(victim, DOWN_MS);
        return { downAt: killedAt, readyAt };
      }),
  );
}

/**
 * A frozen process (SIGSTOP, then SIGCONT): unlike a crash, every request and every activity
 * attempt in flight survives the pause and goes on afterwards, while Temporal has timed out
 * and retried the attempts meanwhile. Old and new attempts of one change then run at once.
 */
const frozen: Array<{
  victim: 'worker' | 'target' | 'temporal' | 'kafka';
  what: string;
  pauseMs: number;
  ci: boolean;
}> = [
  // Past the workflow task timeout (30 s): the run's local activities are scheduled again.
  { victim: 'worker', what: 'the worker process', pauseMs: 45_000, ci: true },
  // Past the local activity's start-to-close (2 min) and the S3 clients' idle timeout.
  { victim: 'target', what: 'the target MinIO site', pauseMs: 150_000, ci: true },
  // Past the SDK's and kafkajs's request timeouts: calls hang on open connections instead of being refused.
  { victim: 'temporal', what: 'the Temporal server', pauseMs: 45_000, ci: false },
  { victim: 'kafka', what: 'the Kafka broker', pauseMs: 45_000, ci: false },
];

for (const { victim, what, pauseMs, ci } of frozen) {
  scenario(
    {
      id: `pause-${victim}`,
      ci,
      title: `${what} frozen (SIGSTOP) for ${pauseMs / 1000} s under load, then resumed (SIGCONT)`,
      timeoutMs: (LOAD_SECONDS + pauseMs / 1000 + 600) * 1000,
    },
    stack,
    (run) =>
      underLoad(run, `pause-${victim}`, async (engine) => {
        const proc = victim === 'worker' ? engine.worker.proc : run.stack.running.servers[victim]!.process;
        const downAt = Date.now();
        await proc.signal('SIGSTOP');
        await sleep(pauseMs);
        await proc.signal('SIGCONT');
        return { downAt, readyAt: Date.now() };
      }),
  );
}

/**
 * Two workers on the same task queues, one frozen past the workflow task timeout and the
 * local activity's start-to-close. The target is frozen for a few seconds first, so that the
 * worker is frozen with many attempts in flight whose requests the target then answers into
 * the frozen worker's sockets. The other worker takes the frozen one's workflows over and
 * applies their changes again. When the frozen worker resumes, its old attempts find those
 * answers and go on from where they were: a listing made before the takeover, then a write.
 * The key gate cannot help across processes: only cancellation and the conditional writes
 * stand between the two.
 */
scenario(
  {
    id: 'pause-one-of-two-workers',
    ci: true,
    title:
      'one of two worker processes frozen (SIGSTOP) for 150 s under load with requests in flight, then resumed (SIGCONT)',
    timeoutMs: (LOAD_SECONDS + 160 + 600) * 1000,
  },
  stack,
  (run) =>
    underLoad(
      run,
      'pause-one-of-two-workers',
      async (engine) => {
        const target = run.stack.running.servers.target!.process;
        const downAt = Date.now();
        await target.signal('SIGSTOP');
        await sleep(4_000);
        await engine.worker.proc.signal('SIGSTOP');
        await target.signal('SIGCONT');
        await sleep(150_000);
        await engine.worker.proc.signal('SIGCONT');
        return { downAt, readyAt: Date.now() };
      },
      { workers: 2 },
    ),
);

/**
 * Writes that reach the target long after their attempts gave up on them: a proxy between
 * the worker and the target holds every write (PUT, DELETE, POST) for 130 s while reads go
 * on, past the S3 clients' 2-minute idle timeout and the local activity's start-to-close, so
 * that every attempt in that time sends its write and is given up on. Then the link heals:
 * new requests pass at once and the workflows apply what queued up, and the held writes
 * (delete markers among them, which no fence can refuse) are delivered 20 s later.
 */
const PARTITION_MS = 130_000;
const BACKLOG_DELAY_MS = 20_000;
scenario(
  {
    id: 'late-writes-after-partition',
    ci: true,
    title: `writes to the target held for ${PARTITION_MS / 1000} s under load (reads pass), delivered ${BACKLOG_DELAY_MS / 1000} s after the link healed`,
    timeoutMs: (LOAD_SECONDS + (PARTITION_MS + BACKLOG_DELAY_MS) / 1000 + 600) * 1000,
  },
  stack,
  async (run) => {
    const link = new RequestHoldingProxy(new URL(run.stack.info.sites.target.endpoint));
    await link.open();
    try {
      await underLoad(
        run,
        'late-writes-after-partition',
        async () => {
          const downAt = Date.now();
          link.partitionRequests((method) => method !== 'GET' && method !== 'HEAD');
          await sleep(PARTITION_MS);
          const healedAt = Date.now();
          // The check below runs once the held writes have been answered.
          run.facts.lateWriteAnswers = await link.heal(BACKLOG_DELAY_MS);
          return { downAt, readyAt: healedAt };
        },
        {
          editConfig: (raw) => {
            raw.sites.target!.endpoint = link.endpoint;
          },
        },
      );
    } finally {
      await link.close();
    }
  },
);

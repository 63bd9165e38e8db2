import type { Client } from '@temporalio/client';
import { lookupReplication } from '../../../operations/replication-lookup';
import { listHistories } from '../../support/ordered-versions';
import {
  checkBucket,
  describeFindings,
  type BucketCheck,
  type KeyCheckOptions,
} from '../../support/replica-check';
import { consumerLag } from './kafka-tools';
import type { ScenarioEngine } from './engine';
import type { FaultStack } from './fault-stack';

export interface SettleResult {
  /** Time from the call until the engine was quiet (or the deadline). */
  settleMs: number;
  /** The deadline passed before the engine was quiet. */
  timedOut: boolean;
  why: string;
}

/** Counts of each side that agree when replication has caught up (cheap: one listing per side). */
async function sidesAgree(
  stack: FaultStack,
  engine: ScenarioEngine,
  options: KeyCheckOptions,
): Promise<{ agree: boolean; fingerprint: string; detail: string }> {
  const [source, target] = await Promise.all([
    listHistories(stack.source, engine.sourceBucket),
    listHistories(stack.target, engine.targetBucket),
  ]);
  let agree = true;
  let firstDiff = '';
  let targetEntries = 0;
  for (const key of new Set([...source.keys(), ...target.keys()])) {
    const s = (source.get(key) ?? []).filter(
      (e) =>
        (e.kind === 'version' && (options.expectVersion?.(key, e) ?? true)) ||
        (e.kind === 'delete-marker' && options.deleteMarkers),
    );
    const t = target.get(key) ?? [];
    targetEntries += t.length;
    const sv = s.filter((e) => e.kind === 'version').length;
    const tv = t.filter((e) => e.kind === 'version').length;
    const sd = s.length - sv;
    const td = t.length - tv;
    const sameLatest = (s.at(-1)?.kind ?? 'none') === (t.at(-1)?.kind ?? 'none');
    // A suspended bucket's "null" version is overwritten in place on the source: counts say
    // nothing there (each overwrite may add a replica), so such a key settles by stability only.
    const hasNull = s.some((e) => e.versionId === 'null');
    if (hasNull || !(tv === sv && sd === td && sameLatest)) {
      agree = false;
      firstDiff ||= `${key}: source ${sv} versions/${sd} delete markers, target ${tv}/${td}${hasNull ? ' (a "null" version)' : ''}`;
    }
  }
  return { agree, fingerprint: `${target.size}:${targetEntries}`, detail: firstDiff };
}

/** Open runs of the scenario's bucket that are not parked on a FAILED version. */
async function busyWorkflows(temporal: Client, bucket: string): Promise<number | undefined> {
  try {
    const running = await temporal.workflow.count(`CrrBucket = '${bucket}' AND ExecutionStatus = 'Running'`);
    const failed = await temporal.workflow.count(
      `CrrBucket = '${bucket}' AND ExecutionStatus = 'Running' AND CrrStatus = 'FAILED'`,
    );
    return running.count - failed.count;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the engine is quiet: the consumer group has read the whole journal, and either
 * both sides agree (same number of versions and delete markers per key, same kind of
 * latest), or no workflow of the bucket has work left and the target stopped changing for
 * `stableMs`. The deadline ends the wait; what is unfinished then is "stuck".
 */
export async function waitUntilQuiet(
  stack: FaultStack,
  engine: ScenarioEngine,
  options: KeyCheckOptions & { deadlineMs?: number; stableMs?: number },
): Promise<SettleResult> {
  const started = Date.now();
  const deadline = started + (options.deadlineMs ?? 180_000);
  const stableMs = options.stableMs ?? 10_000;
  let lastFingerprint = '';
  let stableSince = Date.now();
  for (;;) {
    const lag = await consumerLag(
      stack.kafka,
      engine.config.kafka.consumerGroup,
      engine.config.kafka.journalTopic,
    ).catch(() => undefined);
    const sides = await sidesAgree(stack, engine, options).catch((err: unknown) => ({
      agree: false,
      fingerprint: `error ${Date.now()}`,
      detail: (err as Error).message,
    }));
    if (sides.fingerprint !== lastFingerprint) {
      lastFingerprint = sides.fingerprint;
      stableSince = Date.now();
    }
    const busy = await busyWorkflows(stack.temporal, engine.sourceBucket);
    const lagZero = lag !== undefined && lag.total === 0;
    if (lagZero && sides.agree && (busy === undefined || busy === 0)) {
      return { settleMs: Date.now() - started, timedOut: false, why: 'both sides agree' };
    }
    if (lagZero && busy === 0 && Date.now() - stableSince >= stableMs) {
      return {
        settleMs: Date.now() - started,
        timedOut: false,
        why: `no work left and the target unchanged for ${stableMs} ms (${sides.detail})`,
      };
    }
    const why = `journal lag ${lag?.total ?? '?'}, ${busy ?? '?'} busy workflow(s), ${sides.agree ? 'sides agree' : sides.detail}`;
    if (Date.now() > deadline) return { settleMs: Date.now() - started, timedOut: true, why };
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export interface ScenarioCheck extends BucketCheck {
  stuck: number;
  failed: number;
  /** Lost versions whose status Temporal reports (COMPLETED without a replica, or unknown). */
  statuses: Array<{ key: string; versionId: string; status: string; reason?: string; detail?: string }>;
  settle: SettleResult;
}

/**
 * Waits until quiet, runs the per-key check, and sorts the versions without a replica into
 * lost (Temporal says COMPLETED, or never heard of it while the journal was fully read),
 * failed (FAILED, with its reason) and stuck (still PENDING/PROCESSING, or the journal not
 * read to its end, when the deadline passed).
 */
export async function settleAndCheck(
  stack: FaultStack,
  engine: ScenarioEngine,
  options: KeyCheckOptions & { deadlineMs?: number; stableMs?: number },
): Promise<ScenarioCheck> {
  const settle = await waitUntilQuiet(stack, engine, options);
  const check = await checkBucket(
    {
      source: stack.source,
      target: stack.target,
      sourceBucket: engine.sourceBucket,
      targetBucket: engine.targetBucket,
    },
    options,
  );
  const lag = await consumerLag(
    stack.kafka,
    engine.config.kafka.consumerGroup,
    engine.config.kafka.journalTopic,
  ).catch(() => undefined);
  const statuses: ScenarioCheck['statuses'] = [];
  let stuck = 0;
  let failed = 0;
  let lost = 0;
  let looked = 0;
  for (const f of check.findings) {
    for (const versionId of f.lost) {
      let status = 'not looked up (more than 200 versions without a replica)';
      let reason: string | undefined;
      let detail: string | undefined;
      if (looked++ < 200) {
        const r = await lookupReplication(
          stack.temporal,
          engine.site,
          engine.sourceBucket,
          f.key,
          versionId,
        ).catch((err: unknown) => ({ versions: [], runStatus: `lookup failed: ${(err as Error).message}` }));
        const v = r.versions.at(-1);
        status = v?.status ?? `not known to Temporal (run ${r.runStatus})`;
        reason = v?.reason;
        detail = v?.detail;
      }
      statuses.push({ key: f.key, versionId, status, reason, detail });
      if (status === 'FAILED') failed += 1;
      else if (status === 'PENDING' || status === 'PROCESSING') stuck += 1;
      else if (
        (status.startsWith('not known') || status.startsWith('not looked up')) &&
        (lag?.total ?? 1) > 0
      )
        stuck += 1;
      else lost += 1;
    }
  }
  return { ...check, lost, stuck, failed, statuses, settle };
}

/** The assertion message of a scenario: the figures, then each key's histories, then log lines. */
export function describeCheck(check: ScenarioCheck, engine: ScenarioEngine): string {
  const figures = `lost ${check.lost}, stuck ${check.stuck}, failed ${check.failed}, duplicated ${check.duplicated}, reordered ${check.reordered}, extra delete markers ${check.extraDeleteMarkers}, missing delete markers ${check.missingDeleteMarkers}, unexpected replicas ${check.unexpected}, latest mismatches ${check.latestMismatch}, metadata mismatches ${check.metadataMismatch}`;
  const statusLines = check.statuses
    .slice(0, 15)
    .map(
      (s) =>
        `  ${JSON.stringify(s.key)} version ${s.versionId}: ${s.status}${s.reason ? ` (${s.reason})` : ''}${s.detail ? ` [${s.detail}]` : ''}`,
    );
  const logs = engine.relevantLogLines(check.findings.slice(0, 3).map((f) => f.key));
  return [
    `s3://${engine.sourceBucket} → s3://${engine.targetBucket}: ${check.keys} keys, source ${check.sourceVersions} versions + ${check.sourceDeleteMarkers} delete markers, target ${check.targetVersions} + ${check.targetDeleteMarkers}`,
    `settled in ${check.settle.settleMs} ms${check.settle.timedOut ? ' (DEADLINE PASSED: ' + check.settle.why + ')' : ` (${check.settle.why})`}`,
    figures,
    describeFindings(check.findings),
    ...(statusLines.length ? ['versions without a replica, as Temporal reports them:', ...statusLines] : []),
    ...(logs.length
      ? ['engine log lines (the first keys above, then the last warnings and errors):', ...logs]
      : []),
    `engine logs: ${engine.processes.map((p) => p.logFile).join(', ')}`,
  ].join('\n');
}

/** True when every figure of the per-key check is zero. */
export function isClean(check: ScenarioCheck): boolean {
  return (
    check.lost +
      check.stuck +
      check.failed +
      check.duplicated +
      check.reordered +
      check.extraDeleteMarkers +
      check.missingDeleteMarkers +
      check.unexpected +
      check.latestMismatch +
      check.metadataMismatch ===
    0
  );
}

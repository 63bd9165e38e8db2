/**
 * Crashes and stops of the worker in the middle of a 300 MiB copy (multipart, 16 MiB parts):
 * the copy completes with the right bytes, the next attempt starts promptly, and parts that
 * were already on the target are not sent again.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { lookupReplication } from '../../operations/replication-lookup';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { listKeyHistory } from '../support/ordered-versions';
import { ScenarioEngine } from './support/engine';
import type { FaultStack } from './support/fault-stack';
import { scenario, sleep, useFaultStack, type ScenarioRun } from './support/scenario';
import { settleAndCheck } from './support/settle';
import { TcpProxy } from '../support/tcp-proxy';
import { putInParts } from '../support/s3-helpers';

const stack = useFaultStack('large-copies');
const MiB = 1024 * 1024;
const SIZE = 300 * MiB;
const PART = 16 * MiB;
const PARTS = Math.ceil(SIZE / PART);
const PART_CONCURRENCY = 4;
/** The worker reaches the target through a 24 MiB/s link: a 300 MiB copy lasts about 13 s. */
const LINK_BYTES_PER_SECOND = 24 * MiB;

let body: Buffer | undefined;
/** 300 MiB of random bytes, made once per file. */
function bigBody(): Buffer {
  body ??= randomBytes(SIZE);
  return body;
}

async function md5OfObject(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  const hash = createHash('md5');
  for await (const chunk of object.Body as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Watches the target's multipart uploads of one key: every part seen, with its upload id and
 * last-modified time, so that a part uploaded twice (same number, later time or another
 * upload) shows as re-sent.
 */
class PartsWatcher {
  /** `${uploadId}/${partNumber}` → last-modified times seen. */
  readonly seen = new Map<string, Set<string>>();
  /** `${uploadId}/${partNumber}` → when the watcher first saw it. */
  readonly firstSeen = new Map<string, number>();
  readonly uploads: string[] = [];
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly key: string,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.poll().catch(() => undefined);
        await sleep(150);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** The parts currently listed on the target, by part number (of the newest upload). */
  async poll(): Promise<Map<number, string>> {
    const uploads = await this.s3.send(
      new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.key }),
    );
    const current = new Map<number, string>();
    for (const u of uploads.Uploads ?? []) {
      if (u.Key !== this.key || !u.UploadId) continue;
      if (!this.uploads.includes(u.UploadId)) this.uploads.push(u.UploadId);
      const parts = await this.s3.send(
        new ListPartsCommand({ Bucket: this.bucket, Key: this.key, UploadId: u.UploadId }),
      );
      for (const p of parts.Parts ?? []) {
        const id = `${u.UploadId}/${p.PartNumber}`;
        const times = this.seen.get(id) ?? new Set<string>();
        times.add(`${p.LastModified?.toISOString()}|${p.ETag}`);
        this.seen.set(id, times);
        if (!this.firstSeen.has(id)) this.firstSeen.set(id, Date.now());
        current.set(p.PartNumber!, u.UploadId);
      }
    }
    return current;
  }

  /** Part numbers listed at `snapshot` that were uploaded again afterwards (same or another upload). */
  resentSince(snapshot: Map<string, Set<string>>): number[] {
    const resent = new Set<number>();
    for (const [id, before] of snapshot) {
      const [uploadId, part] = id.split('/') as [string, string];
      const after = this.seen.get(id) ?? new Set<string>();
      if ([...after].some((t) => !before.has(t))) resent.add(Number(part));
      // The same part number in an upload started later: sent again.
      const later = this.uploads.slice(this.uploads.indexOf(uploadId) + 1);
      if (later.some((u) => this.seen.has(`${u}/${part}`))) resent.add(Number(part));
    }
    return [...resent].sort((a, b) => a - b);
  }

  snapshot(): Map<string, Set<string>> {
    return new Map([...this.seen].map(([k, v]) => [k, new Set(v)]));
  }
}

interface PendingCopy {
  attempt: number;
  startedAt?: number;
  state: string;
}

/** The copy activity of the key's workflow, as the Temporal server holds it. */
async function pendingCopy(
  s: FaultStack,
  engine: ScenarioEngine,
  key: string,
): Promise<PendingCopy | undefined> {
  try {
    const d = await s.temporal.workflow
      .getHandle(replicationWorkflowId(engine.site, engine.sourceBucket, key))
      .describe();
    const a = d.raw.pendingActivities?.[0];
    if (!a) return undefined;
    const started = a.lastStartedTime?.seconds;
    return {
      attempt: a.attempt ?? 0,
      startedAt:
        started === undefined || started === null
          ? undefined
          : Number(started) * 1000 + Math.floor((a.lastStartedTime?.nanos ?? 0) / 1e6),
      state: String(a.state ?? ''),
    };
  } catch {
    return undefined;
  }
}

/** Waits until an attempt started after `after` (Temporal's view); its start time, or undefined at the deadline. */
async function nextAttemptAfter(
  s: FaultStack,
  engine: ScenarioEngine,
  key: string,
  after: number,
  watcher: PartsWatcher,
  timeoutMs: number,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  const before = watcher.snapshot();
  while (Date.now() < deadline) {
    const p = await pendingCopy(s, engine, key);
    if (p?.startedAt && p.startedAt > after) return p.startedAt;
    // The copy may also have completed between two polls.
    const done = (await listKeyHistory(s.target, engine.targetBucket, key).catch(() => [])).length > 0;
    if (done) return Date.now();
    // New parts written after the restart also mean an attempt runs.
    if ([...watcher.seen.keys()].some((k) => !before.has(k))) return Date.now();
    await sleep(250);
  }
  return undefined;
}

async function waitForParts(watcher: PartsWatcher, atLeast: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = (await watcher.poll().catch(() => new Map<number, string>())).size;
    if (n >= atLeast || Date.now() > deadline) return n;
    await sleep(100);
  }
}

/** Runs `body` with a slow link to the target site, for the worker only (the checks read the target directly). */
async function withSlowLink(
  run: ScenarioRun,
  body: (run: ScenarioRun, link: TcpProxy) => Promise<void>,
): Promise<void> {
  const target = new URL(run.stack.info.sites.target.endpoint);
  const link = new TcpProxy(target.hostname, Number(target.port), LINK_BYTES_PER_SECOND);
  await link.open();
  try {
    await body(run, link);
  } finally {
    await link.close();
  }
}

interface BigSource {
  versionId: string;
  md5: string;
  /** The ETag of a source uploaded in parts, which its replica must keep. */
  partsEtag?: string;
}

/** The 300 MiB object on the source: one PUT, or (`inParts`) a multipart upload of PART-sized parts. */
async function putBigObject(
  s: FaultStack,
  engine: ScenarioEngine,
  key: string,
  inParts = false,
): Promise<BigSource> {
  const data = bigBody();
  const md5 = createHash('md5').update(data).digest('hex');
  const Bucket = engine.sourceBucket;
  if (!inParts) {
    const put = await s.source.send(new PutObjectCommand({ Bucket, Key: key, Body: data }));
    return { versionId: put.VersionId!, md5 };
  }
  const sizes = Array.from({ length: PARTS }, (_, i) => Math.min(PART, SIZE - i * PART));
  const done = await putInParts(s.source, Bucket, key, data, sizes);
  return { versionId: done.versionId, md5, partsEtag: done.etag };
}

async function verifyCopy(run: ScenarioRun, engine: ScenarioEngine, key: string, source: BigSource) {
  const s = run.stack;
  const check = await settleAndCheck(s, engine, { deleteMarkers: true, deadlineMs: 300_000 });
  run.check(check);
  const history = await listKeyHistory(s.target, engine.targetBucket, key);
  const replica = history.filter((h) => h.kind === 'version').at(-1);
  if (!replica) {
    run.expect(false, `no replica of ${key} ${source.versionId} on the target`);
    return;
  }
  const md5 = await md5OfObject(s.target, engine.targetBucket, key, replica.versionId);
  run.facts.bytesMatch = md5 === source.md5 && replica.size === SIZE;
  run.expect(
    md5 === source.md5 && replica.size === SIZE,
    `replica ${replica.versionId} of ${key}: ${replica.size} bytes, MD5 ${md5}; source ${SIZE} bytes, MD5 ${source.md5}`,
  );
  if (source.partsEtag) {
    const head = await s.target.send(
      new HeadObjectCommand({ Bucket: engine.targetBucket, Key: key, VersionId: replica.versionId }),
    );
    run.facts.replicaKeptSourceEtag = head.ETag === source.partsEtag;
    run.expect(
      head.ETag === source.partsEtag,
      `replica ${replica.versionId} of ${key} has ETag ${head.ETag}; the source, uploaded in parts, has ${source.partsEtag} (it should have been copied in the same parts)`,
    );
  }
  const status = await lookupReplication(
    s.temporal,
    engine.site,
    engine.sourceBucket,
    key,
    source.versionId,
  ).catch(() => undefined);
  const v = status?.versions.at(-1);
  run.facts.status = v
    ? { status: v.status, attempts: v.attempts, detail: v.detail, reason: v.reason }
    : null;
}

scenario(
  {
    id: 'kill-worker-multipart',
    title: 'kill -9 of the worker twice during a 300 MiB multipart copy',
    timeoutMs: 900_000,
  },
  stack,
  (run) => withSlowLink(run, (r, link) => killDuringMultipart(r, link, false)),
);

scenario(
  {
    id: 'kill-worker-multipart-source-parts',
    title:
      'kill -9 of the worker twice while a 300 MiB version uploaded in parts is copied in the same parts',
    timeoutMs: 900_000,
  },
  stack,
  (run) => withSlowLink(run, (r, link) => killDuringMultipart(r, link, true)),
);

async function killDuringMultipart(run: ScenarioRun, link: TcpProxy, sourceInParts: boolean): Promise<void> {
  const s = run.stack;
  const engine = (run.engine = new ScenarioEngine(s, sourceInParts ? 'kill-source-parts' : 'kill-multipart', {
    worker: { partSizeBytes: PART, partConcurrency: PART_CONCURRENCY },
    editConfig: (raw) => {
      raw.sites.target!.endpoint = link.endpoint;
    },
  }));
  await engine.start();
  const key = 'big/300MiB.bin';
  const watcher = new PartsWatcher(s.target, engine.targetBucket, key);
  watcher.start();
  const source = await putBigObject(s, engine, key, sourceInParts);
  const kills: Array<Record<string, unknown>> = [];
  let partsAtLastKill = 0;
  for (const k of [1, 2]) {
    // First kill once 4 parts are on the target; the second once 4 more are.
    await waitForParts(watcher, partsAtLastKill + 4, 180_000);
    // Let those parts settle: a part on the target for 2 s is done, not in flight.
    await sleep(2_000);
    if ((await watcher.poll().catch(() => new Map())).size >= PARTS) {
      run.expect(false, `kill ${k}: the copy had already uploaded all ${PARTS} parts before the kill`);
      break;
    }
    const killedAt = await engine.worker.kill9();
    const listedAtKill = await watcher.poll().catch(() => new Map<number, string>());
    // What was on the target when the worker died: those parts must not be sent again.
    const snapshot = new Map(
      [...watcher.snapshot()].filter(([id]) => {
        const [uploadId, part] = id.split('/') as [string, string];
        return listedAtKill.get(Number(part)) === uploadId;
      }),
    );
    await sleep(2_000);
    await engine.worker.restart();
    const next = await nextAttemptAfter(s, engine, key, killedAt, watcher, 240_000);
    const nextAttemptMs = next === undefined ? undefined : next - killedAt;
    run.recovery[`nextAttempt${k}Ms`] = nextAttemptMs;
    run.expect(
      nextAttemptMs !== undefined && nextAttemptMs <= 30_000,
      `kill ${k}: the next attempt started ${nextAttemptMs === undefined ? 'never (240 s)' : `${(nextAttemptMs / 1000).toFixed(1)} s`} after the kill (expected within 30 s)`,
    );
    // Parts that had been on the target for 2 s or more when the worker died.
    const settled = [...snapshot.keys()].filter(
      (id) => (watcher.firstSeen.get(id) ?? killedAt) <= killedAt - 2_000,
    );
    kills.push({ kill: k, partsOnTargetAtKill: listedAtKill.size, snapshot, settled });
    partsAtLastKill = listedAtKill.size;
  }
  await verifyCopy(run, engine, key, source);
  await watcher.stop();
  const resent = kills.map((k) => watcher.resentSince(k.snapshot as Map<string, Set<string>>));
  const settledResent = kills.map((k, i) =>
    resent[i]!.filter((part) => (k.settled as string[]).some((id) => id.endsWith(`/${part}`))),
  );
  run.facts.kills = kills.map((k, i) => ({
    kill: k.kill,
    partsOnTargetAtKill: k.partsOnTargetAtKill,
    partsSentAgain: resent[i]!.length,
    partNumbersSentAgain: resent[i],
    settledParts: (k.settled as string[]).length,
    settledPartsSentAgain: settledResent[i],
  }));
  run.facts.uploads = watcher.uploads.length;
  const detail = (run.facts.status as { detail?: string } | null)?.detail ?? '';
  // "reused N of M parts" (or an older wording, "with N of M parts already sent").
  const reused = /(?:reused|with) (\d+) of (\d+) parts/.exec(detail);
  run.facts.reused = reused ? `${reused[1]} of ${reused[2]}` : null;
  const lastKill = kills.at(-1);
  if (reused && lastKill) {
    const onTarget = Number(lastKill.partsOnTargetAtKill);
    run.expect(
      Number(reused[1]) >= onTarget - PART_CONCURRENCY,
      `the last attempt reused ${reused[1]} of ${reused[2]} parts while ${onTarget} were on the target when the worker was killed (at most the ${PART_CONCURRENCY} in flight may be sent again)`,
    );
  }
  for (const [i, k] of kills.entries()) {
    run.expect(
      resent[i]!.length <= PART_CONCURRENCY,
      `kill ${k.kill}: ${resent[i]!.length} of the ${String(k.partsOnTargetAtKill)} parts already on the target were sent again (parts ${resent[i]!.join(', ')}); at most the ${PART_CONCURRENCY} in flight may be; uploads used: ${watcher.uploads.length}; status detail: ${detail || '(none)'}`,
    );
  }
  run.expect(reused !== null, `the status detail does not say how many parts were reused: "${detail}"`);
  run.expect(
    watcher.uploads.length === 1,
    `${watcher.uploads.length} multipart uploads were used for one copy: after a kill the next attempt started a new upload instead of resuming (every part sent again)`,
  );
  for (const [i, k] of kills.entries()) {
    run.expect(
      settledResent[i]!.length === 0,
      `kill ${k.kill}: parts ${settledResent[i]!.join(', ')} had been on the target for 2 s or more when the worker was killed, and were sent again`,
    );
  }
}

scenario(
  {
    id: 'sigterm-worker-grace',
    title: 'SIGTERM of the worker during a copy longer than its shutdown grace, then restart',
    timeoutMs: 900_000,
  },
  stack,
  (run) => withSlowLink(run, sigtermDuringCopy),
);

async function sigtermDuringCopy(run: ScenarioRun, link: TcpProxy): Promise<void> {
  const s = run.stack;
  // Through the slow link the copy lasts about 13 s, 26 times the grace.
  const graceMs = 500;
  const engine = (run.engine = new ScenarioEngine(s, 'sigterm-grace', {
    worker: { shutdownGraceMs: graceMs, partSizeBytes: PART, partConcurrency: PART_CONCURRENCY },
    editConfig: (raw) => {
      raw.sites.target!.endpoint = link.endpoint;
    },
  }));
  await engine.start();
  const key = 'big/sigterm-300MiB.bin';
  const watcher = new PartsWatcher(s.target, engine.targetBucket, key);
  watcher.start();
  const source = await putBigObject(s, engine, key);
  const parts = await waitForParts(watcher, 1, 180_000);
  run.facts.partsAtSigterm = parts;
  const termAt = await engine.worker.sigterm();
  const exited = await engine.worker.proc.waitForExit(90_000);
  run.recovery.exitAfterSigtermMs = exited ? Date.now() - termAt : undefined;
  run.expect(
    exited,
    `the worker did not exit within 90 s of SIGTERM (shutdown grace ${graceMs} ms); last log lines:\n${engine.worker.grep(/./, 10).join('\n')}`,
  );
  if (!exited) await engine.worker.kill9();
  // Whether the copy was cut (the point of the scenario) or ran to its end before the exit.
  const stopped = await listKeyHistory(s.target, engine.targetBucket, key);
  run.facts.completedBeforeExit = stopped.length > 0;
  run.facts.copyCutByShutdown = stopped.length === 0;
  run.facts.graceMs = graceMs;
  await engine.worker.restart();
  const next = await nextAttemptAfter(s, engine, key, termAt, watcher, 240_000);
  run.recovery.nextAttemptMs = next === undefined ? undefined : next - termAt;
  await verifyCopy(run, engine, key, source);
  await watcher.stop();
  run.facts.uploads = watcher.uploads.length;
  run.facts.shutdownLog = engine.worker.grep(/shutdown|cancel|grace|SIGTERM|stopp/i, 8);
}

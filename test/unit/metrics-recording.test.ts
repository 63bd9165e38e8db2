import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Producer, ProducerRecord } from 'kafkajs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { PopulatorMetrics, JOURNAL_OUTCOMES } from '../../metrics/populator-metrics';
import { WorkerMetrics } from '../../metrics/worker-metrics';
import { countSiteBacklog } from '../../operations/backlog';
import { processChunk, type ChunkControl, type ChunkDeps } from '../../populator/chunk-processor';
import { PopulatorStats } from '../../populator/populator-stats';
import { RUN_AS_REGULAR_ACTIVITY } from '../../shared/copy-plan';
import type { JournalMessage } from '../../shared/journal-entry';
import type { ReplicationTask } from '../../shared/replication-task';
import { photosToWestConfig } from '../support/unit-config';

/** One series' value in a registry (0 when absent), e.g. value(r, 'crr_x_total', { site: 'west' }). */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name.replace(/_(count|sum)$/, ''));
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const matching = values.filter(
    (v) =>
      ('metricName' in v && v.metricName ? v.metricName === name : true) &&
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return matching.reduce((sum, v) => sum + v.value, 0);
}

function task(operation: ReplicationTask['entry']['operation'], eventTime: string): ReplicationTask {
  return {
    entry: {
      bucket: 'photos',
      key: 'cat.jpg',
      versionId: 'v1',
      operation,
      size: 10,
      eventTime,
      sequence: '1',
    },
    target: { site: 'west', bucket: 'dst', ruleId: 'all', replicateDeleteMarkers: true },
  };
}

describe('worker metrics', () => {
  test('a completed attempt: outcome, bytes, latency from the journal event, duration, in flight', async () => {
    const registry = new Registry();
    const metrics = new WorkerMetrics(registry);
    metrics.initSites(['west']);
    let clock = Date.parse('2026-11-24T10:00:10Z');
    const attempt = metrics.attemptStarted(task('put', '2026-11-24T10:00:00Z'), () => clock);
    expect(await value(registry, 'crr_inflight_replications', { site: 'west' })).toBe(1);
    clock += 2500;
    attempt.succeeded({
      bytes: 1234,
      attempts: 1,
      appliedAhead: [
        { identity: 'v0|put|0', detail: 'replicated ahead of its journal entry, in source order (with v1)' },
        { identity: 'dm|delete-marker|0', detail: 'already replicated' },
      ],
    });
    attempt.succeeded({ bytes: 1, attempts: 1 }); // recorded once only
    const site = { site: 'west' };
    expect(await value(registry, 'crr_inflight_replications', site)).toBe(0);
    expect(
      await value(registry, 'crr_replications_completed_total', {
        site: 'west',
        operation: 'put',
        outcome: 'replicated',
      }),
    ).toBe(2);
    expect(
      await value(registry, 'crr_replications_completed_total', {
        operation: 'delete-marker',
        outcome: 'already_replicated',
      }),
    ).toBe(1);
    expect(await value(registry, 'crr_bytes_replicated_total', site)).toBe(1234);
    expect(await value(registry, 'crr_replication_latency_seconds_sum', site)).toBe(12.5);
    expect(await value(registry, 'crr_replication_latency_seconds_count', site)).toBe(1);
    expect(await value(registry, 'crr_activity_duration_seconds_sum', site)).toBe(2.5);
    // Zero series from initSites: an idle site shows 0, not nothing.
    const text = await registry.metrics();
    expect(text).toContain(
      'crr_replications_completed_total{site="west",operation="metadata",outcome="not_replicated"} 0',
    );
  });

  test('failed attempts are counted by error type; a re-plan request is not a failure', async () => {
    const registry = new Registry();
    const metrics = new WorkerMetrics(registry);
    const failures = [
      ApplicationFailure.create({ type: 'PermanentAccessDenied', nonRetryable: true }),
      new ApplicationFailure('slow', 'TransientTimeoutError'),
      new ApplicationFailure('slow again', 'TransientTimeoutError'),
      ApplicationFailure.create({ type: RUN_AS_REGULAR_ACTIVITY }),
    ];
    for (const err of failures) metrics.attemptStarted(task('metadata', 't')).failed(err);
    const labels = { site: 'west', operation: 'metadata' };
    expect(
      await value(registry, 'crr_replications_failed_total', { ...labels, reason: 'PermanentAccessDenied' }),
    ).toBe(1);
    expect(
      await value(registry, 'crr_replications_failed_total', { ...labels, reason: 'TransientTimeoutError' }),
    ).toBe(2);
    expect(await value(registry, 'crr_replications_failed_total')).toBe(3);
    expect(await value(registry, 'crr_activity_duration_seconds_count', labels)).toBe(4);
    expect(await value(registry, 'crr_inflight_replications', { site: 'west' })).toBe(0);
    // A latency needs a completion and a readable event time.
    expect(await value(registry, 'crr_replication_latency_seconds_count')).toBe(0);
  });

  test('error types from outside cannot grow the number of series without bound', async () => {
    const registry = new Registry();
    const metrics = new WorkerMetrics(registry);
    for (let i = 0; i < 500; i++)
      metrics.attemptStarted(task('put', 't')).failed(new ApplicationFailure('x', `Permanent Code ${i}!`));
    const { values } = await registry.getSingleMetric('crr_replications_failed_total')!.get();
    expect(values.length).toBeLessThanOrEqual(65);
    expect(values.map((v) => v.labels.reason)).toContain('Permanent_Code_0_');
    expect(values.map((v) => v.labels.reason)).toContain('other');
  });

  test('FAILED versions reported by the workflow', async () => {
    const registry = new Registry();
    const metrics = new WorkerMetrics(registry);
    metrics.versionFailed('west', 'put');
    expect(await value(registry, 'crr_versions_failed_total', { site: 'west', operation: 'put' })).toBe(1);
  });
});

const config = photosToWestConfig({ keyRetryMs: 300, maxBackoffMs: 200 });
let offset = 0;

function record(bucket: string, eventName: string, object: Record<string, unknown>): JournalMessage {
  const value = {
    Records: [
      {
        eventTime: '2026-11-24T10:00:00Z',
        eventName,
        s3: {
          bucket: { name: bucket },
          object: { size: 5, sequencer: (4096 + offset).toString(16), ...object },
        },
      },
    ],
  };
  return message(`${bucket}/${String(object.key)}`, JSON.stringify(value));
}

function message(key: string, value: string): JournalMessage {
  return {
    key: Buffer.from(key),
    value: Buffer.from(value),
    topic: 'crr-journal',
    partition: 3,
    offset: String(offset++),
  };
}

function chunkDeps(
  metrics: PopulatorMetrics,
  signal: (tasks: ReplicationTask[]) => Promise<void>,
): ChunkDeps {
  return {
    config,
    temporal: {} as Client,
    producer: { send: async (_: ProducerRecord) => undefined } as unknown as Producer,
    status: { publish: async () => undefined },
    logger: pino({ level: 'silent' }),
    stats: new PopulatorStats(),
    lookupTags: async () => ({ tags: {} }),
    versioning: async () => 'Enabled',
    signal,
    metrics,
  };
}

const running: ChunkControl = {
  interrupted: () => false,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

describe('populator metrics', () => {
  test('a chunk: each record counted by outcome, signals, tasks per site, dead letters by kind', async () => {
    const registry = new Registry();
    const metrics = new PopulatorMetrics(registry);
    metrics.init(['west']);
    let calls = 0;
    const signal = async (tasks: ReplicationTask[]) => {
      calls++;
      if (tasks[0]!.entry.key === 'refused.jpg') {
        throw Object.assign(new Error('rejected'), {
          cause: Object.assign(new Error('bad'), { code: 3, details: 'bad' }),
        });
      }
      if (calls === 1) throw Object.assign(new Error('down'), { code: 14, details: 'unavailable' });
    };
    const chunk = [
      record('photos', 's3:ObjectCreated:Put', { key: 'a.jpg', versionId: 'v1' }),
      record('photos', 's3:ObjectCreated:Put', { key: 'b.jpg', versionId: 'v2' }),
      record('photos', 's3:ObjectCreated:Put', { key: 'refused.jpg', versionId: 'v3' }),
      record('photos', 's3:ObjectCreated:Put', {
        key: 'copy.jpg',
        versionId: 'v4',
        userMetadata: { 'X-Amz-Meta-Scal-Replication-Status': 'REPLICA' },
      }),
      record('photos', 's3:ObjectRemoved:Delete', { key: 'gone.jpg', versionId: 'v5' }),
      record('elsewhere', 's3:ObjectCreated:Put', { key: 'x.jpg', versionId: 'v6' }),
      record('photos', 's3:ObjectAccessed:Get', { key: 'a.jpg', versionId: 'v1' }),
      message('photos/junk', '{ not json'),
    ];
    const result = await processChunk(chunkDeps(metrics, signal), running, chunk);
    expect(result.completed).toBe(true);
    const outcomes = Object.fromEntries(
      await Promise.all(
        JOURNAL_OUTCOMES.map(
          async (outcome) =>
            [outcome, await value(registry, 'crr_journal_messages_total', { outcome })] as const,
        ),
      ),
    );
    expect(outcomes).toEqual({
      signalled: 2,
      skipped_by_rule: 0,
      no_replication_rules: 1,
      replica: 1,
      version_delete: 1,
      not_pending: 0,
      skipped_event: 1,
      dead_lettered: 2,
    });
    expect(await value(registry, 'crr_signals_total', { outcome: 'accepted' })).toBe(2);
    expect(await value(registry, 'crr_signals_total', { outcome: 'unavailable' })).toBe(1);
    expect(await value(registry, 'crr_signals_total', { outcome: 'rejected' })).toBe(1);
    expect(await value(registry, 'crr_signalled_tasks_total', { site: 'west' })).toBe(2);
    expect(await value(registry, 'crr_dead_letters_total', { reason_kind: 'signal rejected' })).toBe(1);
    expect(await value(registry, 'crr_dead_letters_total', { reason_kind: 'invalid (value)' })).toBe(1);
  });

  test('an interrupted chunk counts no records (it is redelivered and counted then)', async () => {
    const registry = new Registry();
    const metrics = new PopulatorMetrics(registry);
    let interrupted = false;
    const control: ChunkControl = { interrupted: () => interrupted, sleep: async () => undefined };
    const signal = async () => {
      interrupted = true;
      throw Object.assign(new Error('down'), { code: 14, details: 'unavailable' });
    };
    const chunk = [record('photos', 's3:ObjectCreated:Put', { key: 'a.jpg', versionId: 'v1' })];
    expect((await processChunk(chunkDeps(metrics, signal), control, chunk)).completed).toBe(false);
    expect(await value(registry, 'crr_journal_messages_total')).toBe(0);
  });

  test('lag per partition; partitions assigned elsewhere after a rebalance disappear', async () => {
    const registry = new Registry();
    const metrics = new PopulatorMetrics(registry);
    metrics.lag(0, '120', '100');
    metrics.lag(1, '50', '50');
    metrics.lag(2, '7', 'not an offset');
    expect(await value(registry, 'crr_journal_consumer_lag', { partition: '0' })).toBe(20);
    expect(await registry.metrics()).toContain('crr_journal_consumer_lag{partition="1"} 0');
    expect(await registry.metrics()).not.toContain('partition="2"');
    metrics.keepPartitions([1]);
    const text = await registry.metrics();
    expect(text).not.toContain('partition="0"');
    expect(text).toContain('crr_journal_consumer_lag{partition="1"} 0');
  });

  test('a site backlog from visibility counts', async () => {
    const now = new Date('2026-11-24T12:00:00Z');
    const started = [
      new Date('2026-11-24T11:59:50Z'),
      new Date('2026-11-24T11:40:00Z'), // 20 minutes: beyond a 15-minute RPO
    ];
    const queries: string[] = [];
    const count = async (query: string) => {
      queries.push(query);
      if (query.includes("CrrStatus = 'FAILED'")) return 3;
      const before = /StartTime < '([^']+)'/.exec(query)?.[1];
      return started.filter((s) => !before || s < new Date(before)).length;
    };
    const backlog = await countSiteBacklog(count, 'crr-west', now);
    expect(backlog.pendingKeys).toBe(2);
    expect(backlog.failedKeys).toBe(3);
    expect(backlog.oldestPendingAgeSeconds).toBeGreaterThan(1050);
    expect(backlog.oldestPendingAgeSeconds).toBeLessThanOrEqual(1200);
    expect(queries.every((q) => q.includes("TaskQueue = 'crr-west'"))).toBe(true);

    const registry = new Registry();
    const metrics = new PopulatorMetrics(registry);
    metrics.backlog('west', backlog);
    metrics.backlogCounted(now.getTime());
    expect(await value(registry, 'crr_pending_keys', { site: 'west' })).toBe(2);
    expect(await value(registry, 'crr_failed_keys', { site: 'west' })).toBe(3);
    expect(await value(registry, 'crr_backlog_refreshed_timestamp_seconds')).toBe(now.getTime() / 1000);
    // Nothing pending: no age search at all.
    const idle = await countSiteBacklog(async () => 0, 'crr-west', now);
    expect(idle).toEqual({ pendingKeys: 0, failedKeys: 0, oldestPendingAgeSeconds: 0 });
  });
});

import fs from 'node:fs';
import * as proto from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import { bundleShippedWorkflowCode } from '../../workers/workflow-bundle-options';
import { BACKFILL_PAGES, loadRecordedHistory, RECORDED_HISTORIES } from '../replay/recorded-history';

/**
 * Replays the histories recorded from the real engine (test/replay/record-histories.ts) with
 * the workflow code in the tree: a change to replicateKeyWorkflow that would break the runs
 * open in production (non-deterministic: other commands, in another order) fails here.
 * See test/replay/README.md.
 */

const EventType = proto.temporal.api.enums.v1.EventType;

/** Event types without their EVENT_TYPE_ prefix. */
type EventTypeName =
  | 'MARKER_RECORDED'
  | 'ACTIVITY_TASK_SCHEDULED'
  | 'ACTIVITY_TASK_COMPLETED'
  | 'ACTIVITY_TASK_FAILED'
  | 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES';

/** Each fixture, and what its history must show for the scenario it is named after. */
const FIXTURES: Record<
  string,
  { last: proto.temporal.api.enums.v1.EventType; shows: EventTypeName[]; workflowType?: string }
> = {
  'one-version': { last: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, shows: ['MARKER_RECORDED'] },
  'overwrite-storm': {
    last: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    shows: ['MARKER_RECORDED'],
  },
  'failed-then-retried': {
    last: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    shows: ['MARKER_RECORDED', 'ACTIVITY_TASK_FAILED', 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES'],
  },
  'multipart-heartbeats': {
    last: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    shows: ['ACTIVITY_TASK_SCHEDULED', 'ACTIVITY_TASK_COMPLETED'],
  },
  'delete-marker': { last: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, shows: ['MARKER_RECORDED'] },
  'backfill-pages': {
    last: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    shows: ['ACTIVITY_TASK_SCHEDULED', 'ACTIVITY_TASK_COMPLETED'],
    workflowType: 'backfillWorkflow',
  },
};
const NAMES = Object.keys(FIXTURES).sort();

test('the recorded histories are the six scenarios, none lost', () => {
  const files = fs
    .readdirSync(RECORDED_HISTORIES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
  expect(files).toEqual(NAMES);
});

test.each(NAMES)('%s: the history shows what the scenario is for', (name) => {
  const events = loadRecordedHistory(name).events ?? [];
  const { last, shows, workflowType = 'replicateKeyWorkflow' } = FIXTURES[name]!;
  expect(events[0]?.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  expect(events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name).toBe(workflowType);
  expect(events.at(-1)?.eventType).toBe(last);
  for (const type of shows) {
    expect(events.map((e) => e.eventType)).toContain(EventType[`EVENT_TYPE_${type}`]);
  }
});

test('backfill-pages was recorded before the page refill patch, with pages listed as reports came', () => {
  const events = loadRecordedHistory('backfill-pages').events ?? [];
  // No patch marker: replaying it takes the old path, the one runs open at the upgrade are on.
  expect(events.filter((e) => e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED)).toEqual([]);
  const pages = events.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'submitBackfillPage',
  );
  expect(pages.length).toBeGreaterThan(BACKFILL_PAGES.keys / BACKFILL_PAGES.concurrency);
});

beforeAll(() => {
  try {
    // The SDK logs every bundle and worker state change at INFO; warnings and errors are enough here.
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed in this process.
  }
});

test('every recorded history replays with the workflow code in the tree', async () => {
  const results: Array<Pick<ReplayResult, 'workflowId'> & { error?: string }> = [];
  // Bundled as production workers bundle it (preloaded, shared modules included).
  const { code } = await bundleShippedWorkflowCode({ logger: new DefaultLogger('WARN') });
  const replay = Worker.runReplayHistories(
    { workflowBundle: { code }, replayName: 'crr-workflow-replay' },
    NAMES.map((name) => ({ workflowId: name, history: loadRecordedHistory(name) })),
  );
  for await (const result of replay) {
    results.push({
      workflowId: result.workflowId,
      ...(result.error ? { error: `${result.error.name}: ${result.error.message}` } : {}),
    });
  }
  // A non-deterministic change names the fixture and the mismatch here.
  expect(results).toEqual(NAMES.map((workflowId) => ({ workflowId })));
}, 120_000);

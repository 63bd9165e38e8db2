import type { ReplicationTask, TagsSide } from '../shared/replication-task';

/**
 * The latest journal event time the key workflow holds for each side's tag changes of one
 * version: over the change at hand, the one waiting (with the changes it was put to wait
 * against) and those still queued. A two-way conflict is settled by comparing the two sides'
 * latest changes: a side's present tags may come from a later change than the event at hand
 * or waiting (an echo of the engine's own write, say, when a worker died and the events piled
 * up).
 */
export function latestTagChanges(
  versionId: string,
  tasks: Iterable<ReplicationTask | undefined>,
): Partial<Record<TagsSide, string>> {
  const latest: Partial<Record<TagsSide, string>> = {};
  const hold = (side: TagsSide, at: string) => {
    const known = latest[side];
    if (known === undefined || Date.parse(at) > Date.parse(known)) latest[side] = at;
  };
  for (const task of tasks) {
    if (!task || task.entry.operation !== 'metadata' || task.entry.versionId !== versionId) continue;
    hold(task.entry.tagsChangedOn ?? 'source', task.entry.eventTime);
    for (const [side, at] of Object.entries(task.tagsHeld ?? {}) as Array<[TagsSide, string]>) hold(side, at);
  }
  return latest;
}

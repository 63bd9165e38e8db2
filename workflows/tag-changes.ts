import type { ReplicationTask } from '../shared/replication-task';

/** The side of a pair where a tag change was made (as activities/tags-sync.ts names them). */
export type TagChangeSide = 'source' | 'target';

/**
 * The latest journal event time the key workflow holds for each side's tag changes of one
 * version: over the change at hand, the one waiting for its counterpart and those still
 * queued. A two-way conflict is settled by comparing the two sides' latest changes: a side's
 * present tags may come from a later change than the event at hand or waiting (an echo of
 * the engine's own write, say, when a worker died and the events piled up).
 */
export function latestTagChanges(
  versionId: string,
  tasks: Iterable<ReplicationTask | undefined>,
): Partial<Record<TagChangeSide, string>> {
  const latest: Partial<Record<TagChangeSide, string>> = {};
  for (const task of tasks) {
    if (!task || task.entry.operation !== 'metadata' || task.entry.versionId !== versionId) continue;
    const side: TagChangeSide = task.entry.tagsChangedOn ?? 'source';
    const at = task.entry.eventTime;
    const known = latest[side];
    if (known === undefined || Date.parse(at) > Date.parse(known)) latest[side] = at;
  }
  return latest;
}

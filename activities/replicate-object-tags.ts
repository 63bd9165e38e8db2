import {
  DeleteObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { ReplicationOutcome, ReplicationTask } from '../shared/replication-task';
import {
  TAGS_SETTLE_DETAIL,
  TAGS_STALE_DETAIL,
  TAGS_WAITING_DETAIL,
  taskIdentity,
} from '../shared/replication-task';
import { replicationFailure, subjectOf } from './errors';
import { MARKER_TAG, type Tag } from '../shared/replica-marker';
import type { ReplicationContext } from './replication-context';
import { isGone } from '../clients/s3-errors';
import { readSourceTags, readVersionTags, s3VersionId } from './source-version';
import { replicasOf } from './target-state';
import { MAX_TAGS } from './replica-metadata';
import {
  COPY_STAMP_FIELD,
  decideTagsSync,
  heldChangesAreStale,
  TAGS_STAMP_TAG,
  tagsDigest,
  userTagsOf,
  type TagsChange,
  type TagsSide,
} from './tags-sync';

const optional = <K extends string>(name: K, value: string | undefined) =>
  (value === undefined ? {} : { [name]: value }) as Partial<Record<K, string>>;

export interface TagsOptions {
  /** The other side's latest change the key workflow holds, not yet applied. */
  other?: TagsChange;
  /** This side's latest change the workflow holds, when later than the change at hand. */
  changeAt?: string;
}

/**
 * Replicates a metadata-only change (tags) of a version onto its replicas, without copying
 * data. Current tags are read rather than trusted from the journal, so a late or duplicated
 * event converges on the present state, and nothing is written when the tags already agree
 * (no event, hence no echo in two-way replication). In two-way replication a change made on
 * either side is settled by activities/tags-sync.ts and copied either way.
 */
export async function replicateObjectTags(
  ctx: ReplicationContext,
  task: ReplicationTask,
  knownTargetVersionId: string | undefined,
  options: TagsOptions = {},
): Promise<ReplicationOutcome> {
  const subject = subjectOf(task);
  const target = ctx.targetClient(task.target.site);
  const { key } = task.entry;
  const { bucket } = task.target;
  const outcome = (detail: string, targetVersionId?: string): ReplicationOutcome => ({
    identity: taskIdentity(task),
    targetVersionId,
    bytes: 0,
    attempts: Context.current().info.attempt,
    detail,
  });
  const readTags = (s3: S3Client, Bucket: string, VersionId: string) =>
    readVersionTags(s3, Bucket, key, VersionId);
  const writeTags = async (s3: S3Client, Bucket: string, VersionId: string | undefined, TagSet: Tag[]) => {
    if (TagSet.length === 0) await s3.send(new DeleteObjectTaggingCommand({ Bucket, Key: key, VersionId }));
    else await s3.send(new PutObjectTaggingCommand({ Bucket, Key: key, VersionId, Tagging: { TagSet } }));
  };
  /** A version's next tags: the user's, its marker tag kept. */
  const replicaTags = (user: Tag[], current: Tag[]): Tag[] => [
    ...user,
    ...current.filter((t) => t.Key === MARKER_TAG),
  ];
  /** The same with the stamp of `user`, when there is room for it. */
  const stamped = (user: Tag[], current: Tag[]): Tag[] => {
    const tags = replicaTags(user, current);
    return tags.length < MAX_TAGS ? [...tags, { Key: TAGS_STAMP_TAG, Value: tagsDigest(user) }] : tags;
  };
  const same = (a: Tag[], b: Tag[]) =>
    a.length === b.length && a.every((t) => b.some((u) => u.Key === t.Key && u.Value === t.Value));
  /**
   * Gives one version the agreed tags and their stamp (where there is room), written only
   * where they differ. With `seen` (the tags the decision was made on), only if the version
   * still holds them: false when they changed since (nothing written). Without it, on the
   * tags it holds now.
   */
  const writeAgreed = async (
    s3: S3Client,
    Bucket: string,
    VersionId: string,
    agreed: Tag[],
    seen?: Tag[],
  ): Promise<boolean> => {
    if (seen && same(stamped(agreed, seen), seen)) return true;
    const now = await readTags(s3, Bucket, VersionId);
    if (seen && !same(now, seen)) return false;
    const next = stamped(agreed, now);
    if (!same(next, now)) await writeTags(s3, Bucket, VersionId, next);
    return true;
  };

  try {
    let sourceTags: Tag[];
    try {
      sourceTags = await readSourceTags(ctx.source, task.entry);
    } catch (err) {
      if (isGone(err)) return outcome('not replicated: the source version no longer exists');
      throw err;
    }
    const replicas = await replicasOf(ctx, task, knownTargetVersionId);
    // The replica may be missing for good (its put was not replicated): then the tags arrive
    // with the data if that put is ever retried, since a copy reads the source's tags.
    if (replicas.length === 0) return outcome('not replicated: the target has no replica of this version');

    if (!ctx.isTwoWay?.(task)) {
      const wanted = userTagsOf(sourceTags);
      let written = 0;
      for (const VersionId of replicas) {
        const current = await readTags(target, bucket, VersionId);
        const next = replicaTags(wanted, current);
        if (same(next, current)) continue;
        await writeTags(target, bucket, VersionId, next);
        written++;
      }
      return outcome(
        written > 0 ? `${wanted.length} tags` : `already replicated: ${wanted.length} tags`,
        replicas[0],
      );
    }

    // Two-way: the newest replica decides; every replica of the version gets the result.
    const [replica] = replicas as [string, ...string[]];
    const [current, head] = await Promise.all([
      readTags(target, bucket, replica),
      target.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: replica })),
    ]);
    const stampOf = (t: Tag[]) => t.find((x) => x.Key === TAGS_STAMP_TAG)?.Value;
    const change: TagsChange = {
      side: task.entry.tagsChangedOn ?? 'source',
      at: options.changeAt ?? task.entry.eventTime,
    };
    const copyStamp = head.Metadata?.[COPY_STAMP_FIELD];
    const decision = decideTagsSync(
      {
        source: sourceTags,
        target: current,
        ...optional('sourceStamp', stampOf(sourceTags)),
        ...optional('targetStamp', stampOf(current)),
        ...optional('copyStamp', copyStamp),
      },
      change,
      options.other,
      { source: ctx.sourceSite, target: task.target.site },
      task.tagsForce,
      heldChangesAreStale(change, options.other, Date.now()),
    );
    if (decision.action === 'wait') return outcome(TAGS_WAITING_DETAIL, replica);
    if (decision.action === 'wait-newer')
      return outcome(decision.stale ? TAGS_STALE_DETAIL : TAGS_SETTLE_DETAIL, replica);
    const from: TagsSide = decision.action === 'copy' ? decision.from : 'source';
    const agreed = userTagsOf(from === 'source' ? sourceTags : current);
    // Both sides end with the agreed tags and its stamp (where there is room): written only
    // where they differ, so an echo of these writes finds nothing to do. S3 has no conditional
    // tag write, so each write first checks that the side still holds what was decided on: a
    // user's change made since is left alone, for its own event to settle (without the check,
    // restamping the side copied from wrote back its old tags over a newer change of the same
    // side). The side copied to is written first: it is what the user waits for.
    // The other replicas of the version were not part of the decision: their tags are read
    // when they are written.
    const sides = [
      {
        name: 'source' as const,
        writes: () => writeAgreed(ctx.source, task.entry.bucket, s3VersionId(task.entry), agreed, sourceTags),
      },
      {
        name: 'target' as const,
        writes: async () => {
          for (const VersionId of replicas)
            if (
              !(await writeAgreed(
                target,
                bucket,
                VersionId,
                agreed,
                VersionId === replica ? current : undefined,
              ))
            )
              return false;
          return true;
        },
      },
    ];
    if (from === 'source') sides.reverse();
    for (const [i, side] of sides.entries()) {
      if (await side.writes()) continue;
      // The side copied to changed since it was read: both sides changed, a conflict settled
      // (by their times) once that change's event arrives, as for any other.
      if (i === 0 && decision.action === 'copy') return outcome(TAGS_WAITING_DETAIL, replica);
      const changed = side.name === 'source' ? 'the source' : 'the replica';
      return outcome(
        `superseded: ${changed}'s tags changed during the sync; that change's own event settles it`,
        replica,
      );
    }
    if (decision.action === 'in-sync') return outcome(`already replicated: ${agreed.length} tags`, replica);
    return outcome(
      `${agreed.length} tags ${from === 'source' ? '→ replica' : '→ source (changed on the replica)'}: ${decision.reason}`,
      replica,
    );
  } catch (err) {
    throw replicationFailure('replicating tags', subject, err);
  }
}

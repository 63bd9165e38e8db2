import { parseEngineConfig } from '../../config/engine-config';
import {
  ReplicationConfigurationSchema,
  type ReplicationConfiguration,
} from '../../config/replication-configuration';
import { needsTagsFor, selectCandidateDestinations, selectDestinations } from '../../config/rule-matching';
import { planReplication, type TagsLookup } from '../../populator/replication-planner';
import type { JournalEntry } from '../../shared/journal-entry';

function replication(rules: unknown[]): ReplicationConfiguration {
  return ReplicationConfigurationSchema.parse({ Role: 'arn:aws:iam::123456789012:role/crr', Rules: rules });
}

const rule = (r: Record<string, unknown>) => ({
  Status: 'Enabled',
  DeleteMarkerReplication: { Status: 'Disabled' },
  Destination: { Bucket: 'arn:aws:s3:::dst', StorageClass: 'west' },
  ...r,
});
const siteOf = (r: { Destination: { StorageClass?: string } }) => [r.Destination.StorageClass!];

// Priority: gold (tags only) > docs-by-ops (docs/ + tags) > everything-east (no tags, other site).
const rules = replication([
  rule({ ID: 'gold', Priority: 3, Filter: { Tag: { Key: 'tier', Value: 'gold' } } }),
  rule({
    ID: 'docs-by-ops',
    Priority: 2,
    Filter: {
      And: {
        Prefix: 'docs/',
        Tags: [
          { Key: 'owner', Value: 'ops' },
          { Key: 'keep', Value: 'yes' },
        ],
      },
    },
  }),
  rule({
    ID: 'everything-east',
    Priority: 1,
    Filter: { Prefix: '' },
    Destination: { Bucket: 'arn:aws:s3:::dst-east', StorageClass: 'east' },
  }),
  rule({ ID: 'off', Priority: 9, Status: 'Disabled', Filter: { Prefix: 'docs/' } }),
]);

describe('rule matching when the tags are unknown', () => {
  test('candidates: per site, the highest-priority enabled rule whose prefix matches, with its tags', () => {
    const candidates = selectCandidateDestinations(rules, 'docs/a.txt', siteOf);
    expect(candidates.map((c) => [c.site, c.ruleId, c.requiredTags]).sort()).toEqual([
      ['east', 'everything-east', undefined],
      ['west', 'gold', { tier: 'gold' }],
    ]);
    expect(candidates.find((c) => c.site === 'east')).not.toHaveProperty('requiredTags');
  });

  test('a tag rule with a non-matching prefix is no candidate', () => {
    const only = replication([
      rule({
        ID: 'docs',
        Priority: 2,
        Filter: { And: { Prefix: 'docs/', Tags: [{ Key: 'a', Value: 'b' }] } },
      }),
    ]);
    expect(selectCandidateDestinations(only, 'photos/x', siteOf)).toEqual([]);
    expect(selectCandidateDestinations(only, 'docs/x', siteOf)).toMatchObject([
      { ruleId: 'docs', requiredTags: { a: 'b' } },
    ]);
  });

  test('tags are needed only when a tag rule can match the key', () => {
    const docsOnly = replication([
      rule({
        ID: 'docs',
        Priority: 2,
        Filter: { And: { Prefix: 'docs/', Tags: [{ Key: 'a', Value: 'b' }] } },
      }),
      rule({
        ID: 'all',
        Priority: 1,
        Filter: { Prefix: '' },
        Destination: { Bucket: 'arn:aws:s3:::dst-e', StorageClass: 'east' },
      }),
    ]);
    expect(needsTagsFor(docsOnly, 'docs/x')).toBe(true);
    expect(needsTagsFor(docsOnly, 'photos/x')).toBe(false);
    // Without tags, the other rules still select as before.
    expect(selectDestinations(docsOnly, { key: 'photos/x' }, siteOf).map((d) => d.ruleId)).toEqual(['all']);
  });

  test('known tags still follow AWS semantics (selectDestinations is unchanged)', () => {
    const chosen = selectDestinations(rules, { key: 'docs/a', tags: { owner: 'ops', keep: 'yes' } }, siteOf);
    expect(chosen.map((d) => d.ruleId).sort()).toEqual(['docs-by-ops', 'everything-east']);
    // Each destination carries its rule's tag filter (the activity checks it again).
    expect(Object.fromEntries(chosen.map((d) => [d.ruleId, d.requiredTags]))).toEqual({
      'docs-by-ops': { owner: 'ops', keep: 'yes' },
      'everything-east': undefined,
    });
  });
});

describe('planning with tags that cannot be read', () => {
  const config = parseEngineConfig(
    {
      sourceSite: 'source',
      sites: {
        source: { endpoint: 'http://127.0.0.1:9000' },
        west: { endpoint: 'http://127.0.0.1:9100' },
        east: { endpoint: 'http://127.0.0.1:9200' },
      },
      replication: { photos: { Role: 'arn:aws:iam::1:role/r', Rules: rules.Rules } },
    },
    {},
  );
  const entry = (over: Partial<JournalEntry> = {}): JournalEntry => ({
    bucket: 'photos',
    key: 'docs/a.txt',
    versionId: 'v1',
    operation: 'put',
    size: 3,
    eventTime: '2026-11-24T10:00:00.000Z',
    sequence: '1',
    isReplica: false,
    format: 's3-event',
    userMetadata: { big: 'x'.repeat(100) },
    ...over,
  });

  test('a version gone from the source (NoSuchVersion) is planned with requiredTags, never blocked', async () => {
    const lookups: string[] = [];
    const gone: TagsLookup = async (e) => {
      lookups.push(e.versionId);
      return { unknown: 'GetObjectTagging failed: NoSuchVersion (HTTP 404)' };
    };
    const plan = await planReplication(entry(), config, gone);
    expect(lookups).toEqual(['v1']);
    expect(plan.tagsUnknown).toMatch(/NoSuchVersion/);
    expect(plan.tasks.map((t) => [t.target.site, t.target.ruleId, t.target.requiredTags]).sort()).toEqual([
      ['east', 'everything-east', undefined],
      ['west', 'gold', { tier: 'gold' }],
    ]);
    // Tasks carry the trimmed entry only.
    expect(plan.tasks[0]!.entry).not.toHaveProperty('userMetadata');
  });

  test("readable tags plan exactly; tasks carry their rule's tag filter", async () => {
    const plan = await planReplication(entry(), config, async () => ({ tags: { tier: 'gold' } }));
    expect(plan.tagsUnknown).toBeUndefined();
    expect(plan.tasks.map((t) => t.target.ruleId).sort()).toEqual(['everything-east', 'gold']);
    expect(Object.fromEntries(plan.tasks.map((t) => [t.target.ruleId, t.target.requiredTags]))).toEqual({
      gold: { tier: 'gold' },
      'everything-east': undefined,
    });
  });

  test('no lookup for delete markers, replicas, version deletes, or entries that carry their tags', async () => {
    const lookup = jest.fn<ReturnType<TagsLookup>, Parameters<TagsLookup>>(async () => ({ tags: {} }));
    await planReplication(entry({ operation: 'delete-marker' }), config, lookup);
    await planReplication(entry({ isReplica: true }), config, lookup);
    await planReplication(entry({ operation: 'delete-version' }), config, lookup);
    await planReplication(entry({ tags: { tier: 'gold' } }), config, lookup);
    expect(lookup).not.toHaveBeenCalled();
  });

  test('skips say why, in a short category', async () => {
    const none = async () => ({ tags: {} });
    expect((await planReplication(entry({ isReplica: true }), config, none)).skipKind).toBe('replica');
    expect((await planReplication(entry({ operation: 'delete-version' }), config, none)).skipKind).toBe(
      'version delete',
    );
    expect((await planReplication(entry({ bucket: 'other' }), config, none)).skipKind).toBe(
      'bucket without replication rules',
    );
  });
});

describe('tag changes made on a replica (two-way)', () => {
  const both = (dest: string, site: string) => ({
    Role: 'arn:aws:iam::1:role/r',
    Rules: [
      rule({
        ID: `to-${site}`,
        Filter: { Prefix: '' },
        Destination: { Bucket: `arn:aws:s3:::${dest}`, StorageClass: site },
      }),
    ],
  });
  const config = (twoWay: boolean) =>
    parseEngineConfig(
      {
        sourceSite: 'paris',
        sites: {
          paris: { endpoint: 'http://127.0.0.1:9000' },
          tokyo: { endpoint: 'http://127.0.0.1:9100' },
        },
        replication: { photos: both('photos-tk', 'tokyo') },
        ...(twoWay ? { sources: { tokyo: { 'photos-tk': both('photos', 'paris') } } } : {}),
      },
      {},
    );
  // A tag change on tokyo's replica of paris's version v1, as tokyo's journal tells it.
  const onReplica = (over: Partial<JournalEntry> = {}): JournalEntry => ({
    bucket: 'photos-tk',
    key: 'k é+%',
    versionId: 'r1',
    operation: 'metadata',
    size: 0,
    eventTime: '2026-11-26T10:00:00.000Z',
    sequence: '77',
    isReplica: true,
    format: 's3-event',
    sourceSite: 'tokyo',
    userMetadata: { 'scal-replication-status': 'REPLICA', 'scal-version-id': 'v1', 'scal-crr': '12:paris' },
    ...over,
  });
  const none = async () => ({ tags: {} });

  test("goes to the key workflow of the version it replicates (paris → tokyo), naming the replica's side", async () => {
    const plan = await planReplication(onReplica(), config(true), none);
    expect(plan.tasks).toEqual([
      {
        entry: {
          bucket: 'photos',
          key: 'k é+%',
          versionId: 'v1',
          operation: 'metadata',
          size: 0,
          eventTime: '2026-11-26T10:00:00.000Z',
          sequence: '77',
          tagsChangedOn: 'target',
        },
        target: {
          site: 'tokyo',
          bucket: 'photos-tk',
          ruleId: 'to-tokyo',
          storageClass: 'tokyo',
          replicateDeleteMarkers: false,
        },
      },
    ]);
  });

  test('is the replica’s own business without a rule back (one-way), and puts of replicas never go anywhere', async () => {
    expect((await planReplication(onReplica(), config(false), none)).skipKind).toBe('replica');
    expect((await planReplication(onReplica({ operation: 'put' }), config(true), none)).skipKind).toBe(
      'replica',
    );
    // No marker in the metadata (it lives in a tag when the metadata is full): not routed.
    expect((await planReplication(onReplica({ userMetadata: {} }), config(true), none)).skipKind).toBe(
      'replica',
    );
  });
});

import { ConfigError, destinationsFor, parseEngineConfig } from '../../config/engine-config';
import {
  ReplicationConfigurationSchema,
  type ReplicationConfiguration,
} from '../../config/replication-configuration';
import { needsTags, selectDestinations } from '../../config/rule-matching';

const sites = {
  source: { endpoint: 'http://127.0.0.1:9000' },
  west: { endpoint: 'http://127.0.0.1:9100' },
  east: { endpoint: 'http://127.0.0.1:9200' },
};

function replication(rules: unknown[]): ReplicationConfiguration {
  return ReplicationConfigurationSchema.parse({ Role: 'arn:aws:iam::123456789012:role/crr', Rules: rules });
}

const toWest = (rule: Record<string, unknown>) => ({
  Status: 'Enabled',
  DeleteMarkerReplication: { Status: 'Disabled' },
  Destination: { Bucket: 'arn:aws:s3:::dst', StorageClass: 'west' },
  ...rule,
});

describe('rule selection (AWS semantics)', () => {
  // AWS's example: two rules to the same destination whose prefixes overlap; the higher priority wins.
  const overlapping = replication([
    toWest({ ID: 'Tax', Priority: 1, Filter: { Prefix: 'Tax' } }),
    toWest({
      ID: 'TaxDocs',
      Priority: 2,
      Filter: { Prefix: 'TaxDocs' },
      DeleteMarkerReplication: { Status: 'Enabled' },
    }),
  ]);
  const siteOf = (rule: { Destination: { StorageClass?: string } }) => [rule.Destination.StorageClass!];

  test('the highest priority among matching rules wins for one destination', () => {
    const [winner, ...others] = selectDestinations(overlapping, { key: 'TaxDocs/2026.pdf' }, siteOf);
    expect(others).toEqual([]);
    expect(winner).toMatchObject({
      site: 'west',
      ruleId: 'TaxDocs',
      priority: 2,
      replicateDeleteMarkers: true,
    });
    expect(selectDestinations(overlapping, { key: 'Taxes.pdf' }, siteOf)).toMatchObject([
      { ruleId: 'Tax', replicateDeleteMarkers: false },
    ]);
    expect(selectDestinations(overlapping, { key: 'Photos/a.jpg' }, siteOf)).toEqual([]);
  });

  test('rules to different destinations all apply', () => {
    const twoSites = replication([
      toWest({ ID: 'w', Priority: 1, Filter: { Prefix: '' } }),
      toWest({
        ID: 'e',
        Priority: 2,
        Filter: { Prefix: 'docs/' },
        Destination: { Bucket: 'arn:aws:s3:::dst-e', StorageClass: 'east' },
      }),
    ]);
    const chosen = selectDestinations(twoSites, { key: 'docs/a' }, siteOf);
    expect(chosen.map((d) => [d.site, d.targetBucket]).sort()).toEqual([
      ['east', 'dst-e'],
      ['west', 'dst'],
    ]);
  });

  test('tag and And filters need the object tags, disabled rules never match', () => {
    const tagged = replication([
      toWest({ ID: 'gold', Priority: 2, Filter: { Tag: { Key: 'tier', Value: 'gold' } } }),
      toWest({
        ID: 'docs-by-ops',
        Priority: 1,
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
      toWest({ ID: 'off', Priority: 3, Status: 'Disabled', Filter: { Prefix: '' } }),
    ]);
    expect(needsTags(tagged)).toBe(true);
    expect(selectDestinations(tagged, { key: 'x', tags: { tier: 'gold' } }, siteOf)[0]!.ruleId).toBe('gold');
    expect(
      selectDestinations(tagged, { key: 'docs/a', tags: { owner: 'ops', keep: 'yes' } }, siteOf)[0]!.ruleId,
    ).toBe('docs-by-ops');
    expect(selectDestinations(tagged, { key: 'docs/a', tags: { owner: 'ops' } }, siteOf)).toEqual([]);
    expect(() => selectDestinations(tagged, { key: 'x' }, siteOf)).toThrow(/tags are unknown/);
  });

  test('V1 rules (top-level Prefix) replicate delete markers', () => {
    const v1 = replication([
      {
        ID: 'legacy',
        Status: 'Enabled',
        Prefix: 'logs/',
        Destination: { Bucket: 'dst', StorageClass: 'west' },
      },
    ]);
    expect(needsTags(v1)).toBe(false);
    expect(selectDestinations(v1, { key: 'logs/1' }, siteOf)).toMatchObject([
      { targetBucket: 'dst', replicateDeleteMarkers: true },
    ]);
  });
});

describe('replication configuration validation', () => {
  test.each([
    [
      [
        toWest({
          ID: 'a',
          Priority: 1,
          Filter: { Prefix: '' },
          Destination: { Bucket: 'arn:aws:sqs:::nope' },
        }),
      ],
      /Rules\.0\.Destination\.Bucket.*bucket ARN|must be an S3 bucket ARN/,
    ],
    [
      [toWest({ ID: 'a', Priority: 1, Filter: {} }), toWest({ ID: 'a', Priority: 2, Filter: {} })],
      /duplicate rule ID "a"/,
    ],
    [
      [toWest({ ID: 'a', Priority: 1, Filter: {} }), toWest({ ID: 'b', Priority: 1, Filter: {} })],
      /duplicate priority 1/,
    ],
    [
      [
        toWest({
          ID: 't',
          Priority: 1,
          Filter: { Tag: { Key: 'k', Value: 'v' } },
          DeleteMarkerReplication: { Status: 'Enabled' },
        }),
      ],
      /not supported with tag-based filters/,
    ],
    [
      [
        toWest({ ID: 'v2', Priority: 1, Filter: {} }),
        { ID: 'v1', Status: 'Enabled', Prefix: '', Destination: { Bucket: 'dst' } },
      ],
      /cannot be mixed/,
    ],
    [
      [toWest({ ID: 'x', Priority: 1, Filter: { Prefix: 'a', Tag: { Key: 'k', Value: 'v' } } })],
      /exactly one of Prefix, Tag or And/,
    ],
  ])('invalid configuration %# is refused naming the problem', (rules, problem) => {
    const result = ReplicationConfigurationSchema.safeParse({ Role: 'r', Rules: rules });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('\n')).toMatch(problem);
  });
});

describe('engine config', () => {
  const base = {
    sourceSite: 'source',
    sites,
    replication: {
      photos: {
        Role: 'r',
        Rules: [
          toWest({
            ID: 'all',
            Priority: 1,
            Filter: { Prefix: '' },
            Destination: { Bucket: 'dst', StorageClass: 'west,east' },
          }),
        ],
      },
    },
  };

  test('defaults apply, env overrides win, StorageClass naming two sites maps to both', () => {
    const config = parseEngineConfig(base, {
      TEMPORAL_ADDRESS: 'temporal:7233',
      KAFKA_BROKERS: 'k1:9092, k2:9092',
    });
    expect(config.temporal).toEqual({
      address: 'temporal:7233',
      namespace: 'default',
      taskQueuePrefix: 'crr',
    });
    expect(config.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(config.kafka.journalTopic).toBe('crr-journal');
    expect(config.worker.partSizeBytes).toBe(16 * 1024 * 1024);
    expect(
      destinationsFor(config, 'photos', { key: 'a' })
        .map((d) => d.site)
        .sort(),
    ).toEqual(['east', 'west']);
    expect(destinationsFor(config, 'other-bucket', { key: 'a' })).toEqual([]);
  });

  test('every problem is reported with its field path', () => {
    const bad = {
      sourceSite: 'nowhere',
      sites: { source: { endpoint: 'not a url', secretAccessKey: 'oops' }, west: sites.west },
      replication: {
        photos: {
          Role: 'r',
          Rules: [
            toWest({
              ID: 'x',
              Priority: 1,
              Filter: {},
              Destination: { Bucket: 'dst', StorageClass: 'STANDARD' },
            }),
          ],
        },
      },
      worker: { partSizeBytes: 1024 },
    };
    let message = '';
    try {
      parseEngineConfig(bad, {});
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/sites\.source\.endpoint: must be a URL/);
    expect(message).toMatch(/sites\.source\.secretAccessKey: secrets are never stored/);
    expect(message).toMatch(/worker\.partSizeBytes: must be at least 5 MiB/);
    expect(message).not.toContain('oops');
  });

  test('unknown source site and missing destination site are refused', () => {
    expect(() => parseEngineConfig({ ...base, sourceSite: 'nowhere' }, {})).toThrow(
      /sourceSite: "nowhere" is not one of the sites/,
    );
    const noSite = {
      ...base,
      replication: {
        photos: {
          Role: 'r',
          Rules: [toWest({ ID: 'x', Priority: 1, Filter: {}, Destination: { Bucket: 'dst' } })],
        },
      },
    };
    expect(() => parseEngineConfig(noSite, {})).toThrow(
      /Destination\.StorageClass: name a configured site here, or set defaultDestinationSite/,
    );
    expect(
      destinationsFor(parseEngineConfig({ ...noSite, defaultDestinationSite: 'east' }, {}), 'photos', {
        key: 'k',
      })[0]!.site,
    ).toBe('east');
  });
});

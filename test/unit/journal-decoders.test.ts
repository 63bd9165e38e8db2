import { decodeJournalMessage } from '../../populator/journal/decode-journal-message';
import type { JournalEntry } from '../../shared/journal-entry';

function message(value: unknown) {
  const raw = typeof value === 'string' ? value : JSON.stringify(value);
  return { key: null, value: Buffer.from(raw), topic: 'crr-journal', partition: 3, offset: '42' };
}

function decodeOk(value: unknown): JournalEntry[] {
  const result = decodeJournalMessage(message(value));
  if (!result.ok) throw new Error(`expected ok, got: ${result.reason}`);
  return result.entries;
}

function minioEvent(eventName: string, object: Record<string, unknown>, bucket = 'photos') {
  return {
    EventName: eventName,
    Key: `${bucket}/${String(object.key)}`,
    Records: [
      {
        eventVersion: '2.0',
        eventSource: 'minio:s3',
        eventTime: '2026-11-24T10:00:00.123Z',
        eventName,
        s3: { bucket: { name: bucket }, object },
      },
    ],
  };
}

describe('S3 event notification records', () => {
  test('a MinIO PUT becomes a put entry with decoded key, metadata and sequence', () => {
    const [entry] = decodeOk(
      minioEvent('s3:ObjectCreated:Put', {
        key: '2026%2Fa+b.jpg',
        size: 1234,
        eTag: '"9b2cf535f27731c974343645a3985328"',
        versionId: '0f1e2d3c',
        sequencer: '187A2B3C4D5E6F70',
        contentType: 'image/jpeg',
        userMetadata: { 'X-Amz-Meta-Owner': 'ops', 'content-type': 'image/jpeg' },
      }),
    );
    expect(entry).toEqual({
      bucket: 'photos',
      key: '2026/a b.jpg',
      versionId: '0f1e2d3c',
      operation: 'put',
      size: 1234,
      etag: '9b2cf535f27731c974343645a3985328',
      eventTime: '2026-11-24T10:00:00.123Z',
      sequence: BigInt('0x187A2B3C4D5E6F70').toString(),
      contentType: 'image/jpeg',
      userMetadata: { owner: 'ops' },
      isReplica: false,
      format: 's3-event',
    });
  });

  test.each([
    ['a%2Bb.txt', 'a+b.txt'],
    ['100%25+sure', '100% sure'],
    ['caf%C3%A9', 'café'],
    ['%F0%9F%9A%80', '🚀'],
  ])('key %s decodes to %s', (encoded, decoded) => {
    expect(decodeOk(minioEvent('s3:ObjectCreated:Put', { key: encoded, versionId: 'v' }))[0]!.key).toBe(
      decoded,
    );
  });

  test('a 1024-byte key survives encoding', () => {
    const key = `${'ü'.repeat(500)}${'x'.repeat(24)}`;
    expect(Buffer.byteLength(key)).toBe(1024);
    expect(decodeOk(minioEvent('s3:ObjectCreated:Put', { key: encodeURIComponent(key) }))[0]!.key).toBe(key);
  });

  test.each([
    ['s3:ObjectCreated:Post', 'put'],
    ['s3:ObjectCreated:Copy', 'put'],
    ['s3:ObjectCreated:CompleteMultipartUpload', 'put'],
    ['s3:ObjectCreated:PutTagging', 'metadata'],
    ['s3:ObjectCreated:DeleteTagging', 'metadata'],
    ['s3:ObjectRemoved:DeleteMarkerCreated', 'delete-marker'],
    ['s3:ObjectRemoved:Delete', 'delete-version'],
    ['ObjectCreated:Put', 'put'], // AWS names have no s3: prefix
    ['ObjectTagging:Put', 'metadata'],
  ])('%s → %s', (eventName, operation) => {
    const [entry] = decodeOk(minioEvent(eventName, { key: 'k', versionId: 'v', size: 10 }));
    expect(entry!.operation).toBe(operation);
    expect(entry!.size).toBe(operation === 'put' ? 10 : 0);
  });

  test("each tag change of a version has its own sequence (the version's sequencer would make later ones look like redeliveries)", () => {
    const tagged = (eventTime: string) => {
      const event = minioEvent('s3:ObjectCreated:PutTagging', {
        key: 'k',
        versionId: 'v',
        sequencer: '187A2B3C4D5E6F70', // MinIO repeats the version's sequencer for its tag changes
      });
      event.Records[0]!.eventTime = eventTime;
      return decodeOk(event)[0]!;
    };
    const first = tagged('2026-11-24T10:00:01.000Z');
    const second = tagged('2026-11-24T10:00:07.250Z');
    const firstMs = BigInt(Date.parse('2026-11-24T10:00:01.000Z')) * 1_000_000n;
    // The event's millisecond, and below it a fingerprint of the record.
    expect(BigInt(first.sequence)).toBeGreaterThanOrEqual(firstMs);
    expect(BigInt(first.sequence)).toBeLessThan(firstMs + 1_000_000n);
    expect(second.sequence).not.toBe(first.sequence);
    expect(BigInt(second.sequence)).toBeGreaterThan(BigInt(first.sequence));
    // A put keeps the version's own sequencer.
    const put = decodeOk(
      minioEvent('s3:ObjectCreated:Put', { key: 'k', versionId: 'v', sequencer: '187A2B3C4D5E6F70' }),
    );
    expect(put[0]!.sequence).toBe(BigInt('0x187A2B3C4D5E6F70').toString());
  });

  test('two tag changes of a version in the same millisecond keep apart; a redelivered one does not', () => {
    // One on each side of a two-way pair, or two quick ones on one site: the same event time.
    const tagged = (requestId: string) => {
      const event = minioEvent('s3:ObjectCreated:PutTagging', { key: 'k', versionId: 'v', sequencer: '1' });
      return {
        ...event,
        Records: [{ ...event.Records[0]!, responseElements: { 'x-amz-request-id': requestId } }],
      };
    };
    const [a] = decodeOk(tagged('187B0C1D2E3F4A01'));
    const [b] = decodeOk(tagged('187B0C1D2E3F4A02'));
    const [again] = decodeOk(tagged('187B0C1D2E3F4A01'));
    expect(a!.eventTime).toBe(b!.eventTime);
    expect(b!.sequence).not.toBe(a!.sequence);
    expect(again!.sequence).toBe(a!.sequence);
  });

  test('events that do not change objects are ignored', () => {
    expect(decodeOk(minioEvent('s3:ObjectAccessed:Get', { key: 'k' }))).toEqual([]);
  });

  test('AWS records without a MinIO envelope and without version default to version "null"', () => {
    const [entry] = decodeOk({
      Records: [
        {
          eventTime: '2026-01-01T00:00:00Z',
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: 'b' }, object: { key: 'k', size: 1 } },
        },
      ],
    });
    expect(entry).toMatchObject({
      versionId: 'null',
      sequence: (BigInt(Date.parse('2026-01-01T00:00:00Z')) * 1_000_000n).toString(),
    });
  });

  test('a replica written by a replication engine is flagged', () => {
    const [entry] = decodeOk(
      minioEvent('s3:ObjectCreated:Put', {
        key: 'k',
        userMetadata: { 'X-Amz-Meta-Scal-Replication-Status': 'REPLICA' },
      }),
    );
    expect(entry!.isReplica).toBe(true);
  });

  test.each([
    [
      {
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            eventTime: '2026-01-01T00:00:00Z',
            s3: { bucket: { name: 'b' }, object: {} },
          },
        ],
      },
      /record 0: s3\.object\.key/,
    ],
    [minioEvent('s3:ObjectCreated:Put', { key: '%E0%A4%A' }), /not valid URL encoding/],
    [
      {
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            eventTime: 'yesterday',
            s3: { bucket: { name: 'b' }, object: { key: 'k' } },
          },
        ],
      },
      /not a date/,
    ],
  ])('malformed record %# is refused with a reason', (value, reason) => {
    const result = decodeJournalMessage(message(value));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });
});

describe('Backbeat metadata-log entries', () => {
  const metadata = {
    'content-length': 5,
    'content-md5': 'd41d8cd98f00b204e9800998ecf8427e',
    'content-type': 'text/plain',
    'last-modified': '2026-11-24T10:00:00.000Z',
    'x-amz-meta-color': 'blue',
    versionId: '98765432101234999999RG001  1.2.3',
    tags: { team: 'a' },
    replicationInfo: {
      status: 'PENDING',
      backends: [{ site: 'sf', status: 'PENDING', dataStoreVersionId: '' }],
      content: ['DATA', 'METADATA'],
      destination: 'arn:aws:s3:::target-bucket',
      storageClass: 'sf',
    },
  };
  const versionedKey = 'cat.jpg\u000098765432101234999999RG001  1.2.3';

  test('a versioned put entry carries replicationInfo, tags and user metadata', () => {
    const [entry] = decodeOk({
      type: 'put',
      bucket: 'photos',
      key: versionedKey,
      value: JSON.stringify(metadata),
    });
    expect(entry).toMatchObject({
      bucket: 'photos',
      key: 'cat.jpg',
      versionId: '98765432101234999999RG001  1.2.3',
      operation: 'put',
      size: 5,
      tags: { team: 'a' },
      userMetadata: { color: 'blue' },
      replication: {
        status: 'PENDING',
        sites: ['sf'],
        content: ['DATA', 'METADATA'],
        destination: 'arn:aws:s3:::target-bucket',
      },
      format: 'backbeat',
    });
  });

  test('master-key entries of versioned objects are skipped', () => {
    expect(
      decodeOk({ type: 'put', bucket: 'photos', key: 'cat.jpg', value: JSON.stringify(metadata) }),
    ).toEqual([]);
  });

  test('a master key of a non-versioned object replicates as version "null"', () => {
    const { versionId: _drop, ...unversioned } = metadata;
    expect(
      decodeOk({ type: 'put', bucket: 'photos', key: 'cat.jpg', value: unversioned })[0]!.versionId,
    ).toBe('null');
  });

  test('content without DATA is a metadata-only update; delete markers and deletes are recognised', () => {
    const metaOnly = { ...metadata, replicationInfo: { ...metadata.replicationInfo, content: ['METADATA'] } };
    expect(
      decodeOk({ type: 'put', bucket: 'p', key: versionedKey, value: JSON.stringify(metaOnly) })[0]!
        .operation,
    ).toBe('metadata');
    const marker = { ...metadata, isDeleteMarker: true };
    expect(
      decodeOk({ type: 'put', bucket: 'p', key: versionedKey, value: JSON.stringify(marker) })[0]!.operation,
    ).toBe('delete-marker');
    expect(
      decodeOk({ type: 'del', bucket: 'p', key: versionedKey, value: JSON.stringify(metadata) })[0]!
        .operation,
    ).toBe('delete-version');
  });

  test("each metadata-only change of a version is sequenced and timed by its entry's time, not the version's", () => {
    const metaOnly = { ...metadata, replicationInfo: { ...metadata.replicationInfo, content: ['METADATA'] } };
    const at = (timestamp: string) =>
      decodeOk({
        type: 'put',
        bucket: 'p',
        key: versionedKey,
        value: JSON.stringify(metaOnly),
        timestamp,
      })[0]!;
    const first = at('2026-11-24T11:00:00.000Z');
    const second = at('2026-11-24T11:00:05.000Z');
    expect(first.operation).toBe('metadata');
    expect(first.sequence).toBe((BigInt(Date.parse('2026-11-24T11:00:00.000Z')) * 1_000_000n).toString());
    expect(second.sequence).not.toBe(first.sequence);
    // Two-way tag conflicts compare these times: the change's, not the version's.
    expect(first.eventTime).toBe('2026-11-24T11:00:00.000Z');
    expect(second.eventTime).toBe('2026-11-24T11:00:05.000Z');
    // A put is still sequenced and timed by the version's last-modified time.
    const put = decodeOk({
      type: 'put',
      bucket: 'p',
      key: versionedKey,
      value: JSON.stringify(metadata),
      timestamp: '2026-11-24T11:00:00.000Z',
    })[0]!;
    expect(put.sequence).toBe((BigInt(Date.parse(metadata['last-modified'])) * 1_000_000n).toString());
    expect(put.eventTime).toBe(new Date(metadata['last-modified']).toISOString());
  });

  test('replicas are flagged and a value that is not JSON is refused', () => {
    const replica = { ...metadata, replicationInfo: { ...metadata.replicationInfo, status: 'REPLICA' } };
    expect(
      decodeOk({ type: 'put', bucket: 'p', key: versionedKey, value: JSON.stringify(replica) })[0]!.isReplica,
    ).toBe(true);
    const result = decodeJournalMessage(
      message({ type: 'put', bucket: 'p', key: versionedKey, value: '{broken' }),
    );
    expect(!result.ok && result.reason).toMatch(/not JSON object metadata/);
  });
});

describe('MongoDB change-stream documents', () => {
  const value = {
    key: 'dog.jpg',
    versionId: 'v7',
    'content-length': 3,
    'last-modified': '2026-11-24T10:00:00.000Z',
  };
  const doc = {
    ns: { db: 'metadata', coll: 'photos' },
    documentKey: { _id: 'dog.jpg\u0000v7' },
    operationType: 'insert',
    clusterTime: { $timestamp: { t: 1764000000, i: 3 } },
    fullDocument: { _id: 'dog.jpg\u0000v7', value },
  };

  test('an insert becomes a put ordered by cluster time', () => {
    const [entry] = decodeOk(doc);
    expect(entry).toMatchObject({
      bucket: 'photos',
      key: 'dog.jpg',
      versionId: 'v7',
      operation: 'put',
      size: 3,
      format: 'change-stream',
    });
    expect(entry!.sequence).toBe(((1764000000n << 32n) + 3n).toString());
  });

  test('string-wrapped and schema/payload envelopes decode the same', () => {
    const plain = decodeOk(doc);
    expect(decodeOk(JSON.stringify(JSON.stringify(doc)))).toEqual(plain);
    expect(decodeOk({ schema: { type: 'string' }, payload: JSON.stringify(doc) })).toEqual(plain);
    expect(decodeOk({ schema: { type: 'struct' }, payload: doc })).toEqual(plain);
  });

  test('updates read updatedFields.value; deletes are version deletes; internal collections are skipped', () => {
    const update = {
      ...doc,
      operationType: 'update',
      fullDocument: undefined,
      updateDescription: { updatedFields: { value: { ...value, tags: { a: 'b' } } } },
    };
    expect(decodeOk(update)[0]!.tags).toEqual({ a: 'b' });
    const del = { ...doc, operationType: 'delete', fullDocument: undefined };
    expect(decodeOk(del)[0]!.operation).toBe('delete-version');
    expect(decodeOk({ ...doc, ns: { db: 'metadata', coll: '__metastore' } })).toEqual([]);
  });

  test('an insert without metadata is refused', () => {
    const result = decodeJournalMessage(message({ ...doc, fullDocument: {} }));
    expect(!result.ok && result.reason).toMatch(/no object metadata/);
  });
});

describe('messages of no known shape', () => {
  test.each([
    [null, /empty message value/],
    ['not json at all', /not JSON/],
    [{ hello: 'world' }, /unknown journal format/],
  ])('%p is refused', (value, reason) => {
    const result =
      value === null
        ? decodeJournalMessage({ key: null, value: null, topic: 't', partition: 0, offset: '0' })
        : decodeJournalMessage(message(value));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });
});

describe('validation at the edge (S3 limits, known event names)', () => {
  function refused(value: unknown): { reason: string; field?: string } {
    const result = decodeJournalMessage(message(value));
    if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.entries)}`);
    return result;
  }

  test.each([
    [1e300, /s3\.object\.size/],
    [-1, /s3\.object\.size must not be negative/],
    [1.5, /s3\.object\.size/],
    [5 * 1024 ** 4 + 1, /s3\.object\.size must be at most 5 TiB/],
    ['100', /s3\.object\.size must be a number/],
    [null, /s3\.object\.size/],
  ])('size %p is refused with the field named', (size, reason) => {
    const result = refused(minioEvent('s3:ObjectCreated:Put', { key: 'k', versionId: 'v', size }));
    expect(result.reason).toMatch(reason);
    expect(result.field).toBe('s3.object.size');
  });

  test('5 TiB, S3 largest object, is accepted', () => {
    const size = 5 * 1024 ** 4;
    expect(decodeOk(minioEvent('s3:ObjectCreated:Put', { key: 'k', versionId: 'v', size }))[0]!.size).toBe(
      size,
    );
  });

  test('a key of 1025 bytes in UTF-8 is refused; an empty key too', () => {
    const key = `${'ü'.repeat(500)}${'x'.repeat(25)}`;
    expect(Buffer.byteLength(key)).toBe(1025);
    expect(refused(minioEvent('s3:ObjectCreated:Put', { key: encodeURIComponent(key) })).reason).toMatch(
      /s3\.object\.key is 1025 bytes in UTF-8, more than S3's 1024/,
    );
    expect(refused(minioEvent('s3:ObjectCreated:Put', { key: '' })).field).toBe('s3.object.key');
  });

  test('an unknown event name is refused, naming it', () => {
    const result = refused(minioEvent('s3:ObjectMangled:Put', { key: 'k', versionId: 'v' }));
    expect(result.reason).toMatch(/eventName "s3:ObjectMangled:Put" is not a known S3 event name/);
    expect(result.field).toBe('eventName');
    expect(refused(minioEvent(42 as unknown as string, { key: 'k' })).field).toBe('eventName');
  });

  test.each([
    's3:ObjectAccessed:Get',
    's3:ObjectAccessed:Head',
    's3:ObjectRestore:Post',
    's3:ObjectRestore:Completed',
    's3:Replication:OperationCompletedReplication',
    's3:ObjectTransition:Complete',
    'LifecycleExpiration:Delete',
    'LifecycleExpiration:DeleteMarkerCreated',
    'LifecycleTransition',
    'IntelligentTiering',
    'ObjectAcl:Put',
    's3:Scanner:ManyVersions',
    's3:Scanner:LargeVersions',
    's3:BucketCreated:*',
    's3:BucketRemoved:*',
    's3:ObjectRemoved:NoOP',
    's3:LifecycleDelMarkerExpiration:Delete',
    's3:ObjectLifecycle:Expiration:Current',
    's3:ObjectSynced:Create',
  ])('%s is known but irrelevant: skipped and counted', (eventName) => {
    const result = decodeJournalMessage(message(minioEvent(eventName, { key: 'k' })));
    expect(result).toEqual({
      ok: true,
      entries: [],
      skipped: [`event ${eventName.startsWith('s3:') ? eventName : `s3:${eventName}`}`],
    });
  });

  test("MinIO's force delete of all versions is a version delete (never replicated)", () => {
    expect(decodeOk(minioEvent('s3:ObjectRemoved:DeleteAllVersions', { key: 'k' }))[0]!.operation).toBe(
      'delete-version',
    );
  });

  test("AWS's test event is skipped", () => {
    expect(
      decodeJournalMessage(message({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'b' })),
    ).toEqual({ ok: true, entries: [], skipped: ['event s3:TestEvent'] });
  });

  test('a missing versionId decodes as version "null" (checked against the bucket by the populator)', () => {
    expect(decodeOk(minioEvent('s3:ObjectCreated:Put', { key: 'k', size: 1 }))[0]!.versionId).toBe('null');
  });

  test.each([
    [{ key: 'k', sequencer: 'xyz' }, /s3\.object\.sequencer must be hexadecimal/],
    [{ key: 'k', sequencer: 'A'.repeat(65) }, /s3\.object\.sequencer must be at most 64/],
    [{ key: 'k', versionId: 7 }, /s3\.object\.versionId/],
    [{ key: 'k', versionId: 'v'.repeat(1025) }, /s3\.object\.versionId must be at most 1024/],
    [{ key: 'k', eTag: 'e'.repeat(300) }, /s3\.object\.eTag/],
  ])('object field %p is refused', (object, reason) => {
    expect(refused(minioEvent('s3:ObjectCreated:Put', object)).reason).toMatch(reason);
  });

  test('bucket names with a slash or control characters are refused', () => {
    expect(refused(minioEvent('s3:ObjectCreated:Put', { key: 'k' }, 'a/b')).field).toBe('s3.bucket.name');
    expect(refused(minioEvent('s3:ObjectCreated:Put', { key: 'k' }, 'a\u0001b')).field).toBe(
      's3.bucket.name',
    );
  });

  test('more than 1000 records in one message are refused before any is read', () => {
    const records = Array.from({ length: 1001 }, () => ({}));
    expect(refused({ Records: records }).reason).toMatch(/Records has 1001 records, more than 1000/);
    expect(decodeJournalMessage(message({ Records: [] }))).toEqual({
      ok: true,
      entries: [],
      skipped: ['s3 event without records'],
    });
  });

  test('one bad record refuses the message; irrelevant records next to good ones are skipped', () => {
    const good = minioEvent('s3:ObjectCreated:Put', { key: 'a', versionId: 'v' }).Records[0]!;
    const read = minioEvent('s3:ObjectAccessed:Get', { key: 'b' }).Records[0]!;
    const bad = minioEvent('s3:ObjectCreated:Put', { key: 'c', size: -3 }).Records[0]!;
    const mixed = decodeJournalMessage(message({ Records: [good, read] }));
    expect(mixed.ok && mixed.entries.map((e) => e.key)).toEqual(['a']);
    expect(mixed.ok && mixed.skipped).toEqual(['event s3:ObjectAccessed:Get']);
    expect(refused({ Records: [good, bad] }).reason).toMatch(/record 1: s3\.object\.size/);
  });

  test('Backbeat entries: absurd content-length, long keys and bad versionIds are refused', () => {
    const metadata = {
      'content-length': 1e300,
      'last-modified': '2026-11-24T10:00:00.000Z',
      versionId: 'v1',
    };
    expect(
      refused({ type: 'put', bucket: 'p', key: 'k\u0000v1', value: JSON.stringify(metadata) }).reason,
    ).toMatch(/metadata value\.content-length/);
    const fine = { ...metadata, 'content-length': 3 };
    expect(
      refused({ type: 'put', bucket: 'p', key: `${'k'.repeat(1025)}\u0000v1`, value: JSON.stringify(fine) })
        .reason,
    ).toMatch(/object key is 1025 bytes/);
    expect(
      refused({ type: 'put', bucket: 'p', key: 'k\u0000v1', value: { ...fine, versionId: 5 } }).field,
    ).toBe('value.versionId');
    expect(refused({ type: 'put', bucket: 'a/b', key: 'k\u0000v1', value: fine }).field).toBe('bucket');
    expect(decodeJournalMessage(message({ type: 'put', bucket: 'p', key: 'k', value: fine }))).toEqual({
      ok: true,
      entries: [],
      skipped: ['backbeat master key of a versioned object'],
    });
  });

  test('change-stream documents: cluster times and content-length are validated', () => {
    const doc = {
      ns: { db: 'metadata', coll: 'photos' },
      documentKey: { _id: 'dog.jpg\u0000v7' },
      operationType: 'insert',
      clusterTime: { $timestamp: { t: 1764000000, i: 3 } },
      fullDocument: {
        value: {
          key: 'dog.jpg',
          versionId: 'v7',
          'content-length': 3,
          'last-modified': '2026-11-24T10:00:00Z',
        },
      },
    };
    expect(decodeOk(doc)).toHaveLength(1);
    expect(refused({ ...doc, clusterTime: { $timestamp: { t: 1.5, i: 0 } } }).field).toMatch(/^clusterTime/);
    expect(refused({ ...doc, clusterTime: { $timestamp: { t: 1e300, i: 0 } } }).field).toMatch(
      /^clusterTime/,
    );
    const huge = { ...doc, fullDocument: { value: { ...doc.fullDocument.value, 'content-length': 6e12 } } };
    expect(refused(huge).reason).toMatch(/content-length must be at most 5 TiB/);
    expect(decodeJournalMessage(message({ ...doc, ns: { coll: '__metastore' } }))).toEqual({
      ok: true,
      entries: [],
      skipped: ['change-stream internal collection'],
    });
  });

  test('a 1 MiB message of garbage is refused quickly with a short reason', () => {
    const value = Buffer.alloc(1024 * 1024, 'x');
    const started = Date.now();
    const result = decodeJournalMessage({ key: null, value, topic: 't', partition: 0, offset: '1' });
    expect(Date.now() - started).toBeLessThan(500);
    expect(!result.ok && result.reason.length).toBeLessThan(300);
  });
});

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

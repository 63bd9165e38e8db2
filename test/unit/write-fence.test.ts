import { parseEngineConfig } from '../../config/engine-config';
import { fenceAfterPut, fenceFields, fenceOn, isFenceRejection } from '../../activities/write-fence';

describe('write fence: the precondition of a replica write', () => {
  test('on an empty key or a delete marker: If-None-Match *', () => {
    expect(fenceFields(fenceOn(undefined))).toEqual({ IfNoneMatch: '*' });
    expect(fenceFields(fenceOn({ isDeleteMarker: true }))).toEqual({ IfNoneMatch: '*' });
  });

  test('on a version: If-Match its quoted ETag (multipart ETags too)', () => {
    expect(fenceFields(fenceOn({ isDeleteMarker: false, etag: 'abc' }))).toEqual({ IfMatch: '"abc"' });
    expect(fenceFields(fenceOn({ isDeleteMarker: false, etag: 'abc-3' }))).toEqual({ IfMatch: '"abc-3"' });
    expect(fenceOn({ isDeleteMarker: false })).toBeUndefined();
  });

  test('after a write: the ETag the target answered, quotes stripped', () => {
    expect(fenceAfterPut('"d41d8cd98f00b204e9800998ecf8427e"')).toEqual({
      ifMatch: 'd41d8cd98f00b204e9800998ecf8427e',
    });
    expect(fenceAfterPut(undefined)).toBeUndefined();
    expect(fenceFields(undefined)).toEqual({});
  });

  test('refusals: 412, 409 ConditionalRequestConflict, and NoSuchKey only under If-Match', () => {
    const match = { ifMatch: 'abc' };
    const none = { ifNoneMatch: '*' as const };
    const s3Error = (name: string, status: number) => ({ name, $metadata: { httpStatusCode: status } });
    expect(isFenceRejection(s3Error('PreconditionFailed', 412), none)).toBe(true);
    expect(isFenceRejection(s3Error('Unknown', 412), match)).toBe(true);
    expect(isFenceRejection(s3Error('ConditionalRequestConflict', 409), match)).toBe(true);
    expect(isFenceRejection(s3Error('NoSuchKey', 404), match)).toBe(true);
    expect(isFenceRejection(s3Error('NoSuchKey', 404), none)).toBe(false);
    expect(isFenceRejection(s3Error('NoSuchBucket', 404), match)).toBe(false);
    expect(isFenceRejection(s3Error('AccessDenied', 403), match)).toBe(false);
    // An unfenced write's 412 is not the fence's.
    expect(isFenceRejection(s3Error('PreconditionFailed', 412), undefined)).toBe(false);
  });
});

describe('sites.<name>.conditionalWrites', () => {
  const config = (site: Record<string, unknown>) =>
    parseEngineConfig(
      { sourceSite: 'src', sites: { src: { endpoint: 'http://127.0.0.1:9000', ...site } } },
      {},
    );

  test('on unless a site turns it off', () => {
    expect(config({}).sites.src!.conditionalWrites).toBe(true);
    expect(config({ conditionalWrites: false }).sites.src!.conditionalWrites).toBe(false);
  });

  test('anything but a boolean is a config error naming the field', () => {
    expect(() => config({ conditionalWrites: 'no' })).toThrow(/conditionalWrites/);
  });
});

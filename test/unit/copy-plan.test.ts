import { parseEngineConfig } from '../../config/engine-config';
import { startsLocally, transferFor } from '../../shared/copy-plan';

const MiB = 1024 * 1024;
const policy = { multipartThresholdBytes: 256 * MiB, localActivityMaxBytes: 8 * MiB };

describe('the one multipart decision (shared/copy-plan.ts)', () => {
  test.each([
    [0, 'single-put'],
    [8 * MiB, 'single-put'],
    [256 * MiB, 'single-put'],
    [256 * MiB + 1, 'multipart'],
    [5 * 1024 ** 4, 'multipart'],
    [undefined, 'multipart'],
  ] as const)('a put of %s bytes is copied by %s', (size, transfer) => {
    expect(transferFor(size, policy)).toBe(transfer);
  });

  test('a version uploaded in parts goes in parts when it is too large to start locally', () => {
    const inParts = '"0123456789abcdef0123456789abcdef-3"';
    expect(transferFor(16 * MiB, policy, inParts)).toBe('multipart');
    expect(transferFor(16 * MiB, policy, '0123456789abcdef0123456789abcdef-1')).toBe('multipart');
    expect(transferFor(8 * MiB, policy, inParts)).toBe('single-put'); // starts locally: one PUT
    expect(transferFor(16 * MiB, policy, '0123456789abcdef0123456789abcdef')).toBe('single-put');
    expect(transferFor(16 * MiB, policy, 'not-an-etag-3')).toBe('single-put');
    expect(transferFor(16 * MiB, policy)).toBe('single-put');
    expect(startsLocally({ operation: 'put', size: 8 * MiB }, policy)).toBe(true);
  });

  test('only puts of a known size up to localActivityMaxBytes start as local activities', () => {
    expect(startsLocally({ operation: 'put', size: 8 * MiB }, policy)).toBe(true);
    expect(startsLocally({ operation: 'put', size: 8 * MiB + 1 }, policy)).toBe(false);
    // The journal did not say: the copy may be huge, so it must be able to heartbeat and resume.
    expect(startsLocally({ operation: 'put', size: undefined }, policy)).toBe(false);
    expect(startsLocally({ operation: 'delete-marker', size: 0 }, policy)).toBe(true);
    expect(startsLocally({ operation: 'metadata', size: 0 }, policy)).toBe(true);
  });

  test('a multipart threshold below the local-activity limit still never runs a multipart copy locally', () => {
    const small = { multipartThresholdBytes: 1 * MiB, localActivityMaxBytes: 8 * MiB };
    expect(startsLocally({ operation: 'put', size: 2 * MiB }, small)).toBe(false);
    expect(startsLocally({ operation: 'put', size: MiB }, small)).toBe(true);
  });

  test('local activities disabled (0): everything is a regular activity', () => {
    const none = { ...policy, localActivityMaxBytes: 0 };
    expect(startsLocally({ operation: 'put', size: 0 }, none)).toBe(false);
    expect(startsLocally({ operation: 'delete-marker', size: 0 }, none)).toBe(false);
  });
});

describe('policy settings in the config', () => {
  const base = {
    sourceSite: 'source',
    sites: { source: { endpoint: 'http://127.0.0.1:9000' }, west: { endpoint: 'http://127.0.0.1:9100' } },
  };

  test('defaults, and no warning for a config that uses policy.*', () => {
    const config = parseEngineConfig({ ...base, policy: { maxAttempts: 3 } }, {});
    expect(config.policy).toEqual({
      maxAttempts: 3,
      initialRetryIntervalMs: 1000,
      maxRetryIntervalMs: 60_000,
      multipartThresholdBytes: 256 * MiB,
      localActivityMaxBytes: 8 * MiB,
      continueAsNewAfterVersions: 200,
    });
    expect(config.warnings).toEqual([]);
  });

  test('old names under worker.* are still read, with a warning naming the new place', () => {
    const config = parseEngineConfig(
      { ...base, worker: { maxAttempts: 7, localActivityMaxBytes: 0, partConcurrency: 2 } },
      {},
    );
    expect(config.policy.maxAttempts).toBe(7);
    expect(config.policy.localActivityMaxBytes).toBe(0);
    expect(config.worker.partConcurrency).toBe(2);
    expect(config.warnings).toEqual([
      'worker.maxAttempts is deprecated: move it to policy.maxAttempts',
      'worker.localActivityMaxBytes is deprecated: move it to policy.localActivityMaxBytes',
    ]);
  });

  test('policy.* wins over an old worker.* name, and the warning says the old one is ignored', () => {
    const config = parseEngineConfig({ ...base, worker: { maxAttempts: 7 }, policy: { maxAttempts: 2 } }, {});
    expect(config.policy.maxAttempts).toBe(2);
    expect(config.warnings).toEqual([
      'worker.maxAttempts is ignored: policy.maxAttempts is set (remove worker.maxAttempts)',
    ]);
  });

  test('a bad policy value names its field', () => {
    expect(() => parseEngineConfig({ ...base, policy: { maxAttempts: 0 } }, {})).toThrow(
      /policy\.maxAttempts: /,
    );
    expect(() =>
      parseEngineConfig(
        { ...base, worker: { partSizeBytes: 64 * MiB }, policy: { multipartThresholdBytes: 32 * MiB } },
        {},
      ),
    ).toThrow(/policy\.multipartThresholdBytes: must be at least worker\.partSizeBytes/);
  });
});

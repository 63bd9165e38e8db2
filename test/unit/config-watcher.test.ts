import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyConfigChange, watchEngineConfig, type ConfigChange } from '../../config/config-watcher';
import { destinationsFor, parseEngineConfig, saveEngineConfig } from '../../config/engine-config';

const rule = (id: string, prefix: string) => ({
  ID: id,
  Status: 'Enabled',
  Priority: id.charCodeAt(0),
  Filter: { Prefix: prefix },
  DeleteMarkerReplication: { Status: 'Enabled' },
  Destination: { Bucket: 'arn:aws:s3:::dst', StorageClass: 'west' },
});
const raw = (rules: unknown[], extra: Record<string, unknown> = {}) => ({
  sourceSite: 'source',
  sites: { source: { endpoint: 'http://127.0.0.1:9000' }, west: { endpoint: 'http://127.0.0.1:9100' } },
  replication: { photos: { Role: 'arn:aws:iam::1:role/r', Rules: rules } },
  ...extra,
});

test('new rules replace the running ones in place; other sections are reported as needing a restart', () => {
  const current = parseEngineConfig(raw([rule('a', 'a/')]), {});
  const holder = { config: current };
  const next = parseEngineConfig(
    raw([rule('a', 'a/'), rule('b', 'b/')], { worker: { partConcurrency: 8 } }),
    {},
  );
  const change = applyConfigChange(current, next);
  expect(change).toEqual({
    reloaded: ['replication'],
    restartNeeded: ['worker'],
    sites: { added: [], removed: [], changed: [] },
  });
  expect(holder.config.replication.photos!.Rules.map((r) => r.ID)).toEqual(['a', 'b']);
  expect(holder.config.worker.partConcurrency).toBe(4);
});

const drRule = {
  ...rule('d', ''),
  Destination: { Bucket: 'arn:aws:s3:::dr-bucket', StorageClass: 'dr' },
};
const withDr = (extra: Record<string, unknown> = {}) => {
  const base = raw([rule('a', 'a/'), drRule], extra);
  return { ...base, sites: { ...base.sites, dr: { endpoint: 'http://127.0.0.1:9200', profile: 'dr' } } };
};

test('a site added with its rule (what `replication setup` writes) is taken over with the rule', () => {
  const current = parseEngineConfig(raw([rule('a', 'a/')]), {});
  const change = applyConfigChange(current, parseEngineConfig(withDr(), {}));
  expect(change).toEqual({
    reloaded: ['replication', 'sites'],
    restartNeeded: [],
    sites: { added: ['dr'], removed: [], changed: [] },
  });
  expect(Object.keys(current.sites)).toEqual(['source', 'west', 'dr']);
  // The rule routes to the new site (with the old sites it would have named no known site).
  expect(destinationsFor(current, 'photos', { key: 'b/x' }).map((d) => d.site)).toEqual(['dr']);
  expect(
    destinationsFor(current, 'photos', { key: 'a/x' })
      .map((d) => d.site)
      .sort(),
  ).toEqual(['dr', 'west']);
});

test("a changed site entry is taken over; the source site's needs a restart where its client is built once", () => {
  const moved = (endpoint: string) => {
    const base = raw([rule('a', 'a/')]);
    return { ...base, sites: { ...base.sites, source: { endpoint } } };
  };
  // The populator (default): its source client is built once.
  const populatorConfig = parseEngineConfig(raw([rule('a', 'a/')]), {});
  expect(applyConfigChange(populatorConfig, parseEngineConfig(moved('http://10.0.0.1:9000'), {}))).toEqual({
    reloaded: ['sites'],
    restartNeeded: ['sites.source'],
    sites: { added: [], removed: [], changed: ['source'] },
  });
  // The worker builds its clients again: nothing waits for a restart.
  const workerConfig = parseEngineConfig(raw([rule('a', 'a/')]), {});
  const change = applyConfigChange(workerConfig, parseEngineConfig(moved('http://10.0.0.1:9000'), {}), {
    fixedConnections: [],
  });
  expect(change.restartNeeded).toEqual([]);
  expect(workerConfig.sites.source!.endpoint).toBe('http://10.0.0.1:9000');
});

test('a removed site and its rules go; a new source site changes nothing until the restart', () => {
  const current = parseEngineConfig(withDr(), {});
  expect(applyConfigChange(current, parseEngineConfig(raw([rule('a', 'a/')]), {})).sites).toEqual({
    added: [],
    removed: ['dr'],
    changed: [],
  });
  expect(Object.keys(current.sites)).toEqual(['source', 'west']);

  const before = parseEngineConfig(raw([rule('a', 'a/')]), {});
  const other = { ...withDr({ metrics: { host: '0.0.0.0' } }), sourceSite: 'west' };
  other.replication.photos.Rules = [drRule];
  const change = applyConfigChange(before, parseEngineConfig(other, {}));
  expect(change.reloaded).toEqual([]);
  expect(change.restartNeeded).toEqual(['sourceSite', 'metrics', 'replication', 'sites']);
  expect(before.sourceSite).toBe('source');
  expect(Object.keys(before.sites)).toEqual(['source', 'west']);
  expect(before.replication.photos!.Rules.map((r) => r.ID)).toEqual(['a']);
});

describe('watching the file', () => {
  const logs: Array<[string, string, Record<string, unknown>]> = [];
  const logger = {
    info: (f: Record<string, unknown>, m: string) => logs.push(['info', m, f]),
    warn: (f: Record<string, unknown>, m: string) => logs.push(['warn', m, f]),
    error: (f: Record<string, unknown>, m: string) => logs.push(['error', m, f]),
  };
  const waitFor = async (done: () => boolean) => {
    for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  };

  test('a valid change takes effect; a bad one is refused with the reason and the running config stays', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crr-config-')), 'crr.config.json');
    saveEngineConfig(file, raw([rule('a', 'a/')]));
    const current = parseEngineConfig(raw([rule('a', 'a/')]), {});
    const watcher = watchEngineConfig(file, current, logger, 20, {});
    try {
      saveEngineConfig(file, raw([rule('a', 'a/'), rule('b', 'b/')]));
      fs.utimesSync(file, new Date(), new Date(Date.now() + 1_000));
      await waitFor(() => current.replication.photos!.Rules.length === 2);
      expect(current.replication.photos!.Rules.map((r) => r.ID)).toEqual(['a', 'b']);
      expect(logs.at(-1)?.[1]).toBe('config reloaded: replication rules in effect');

      saveEngineConfig(file, raw([{ ...rule('c', 'c/'), Status: 'Maybe' }]));
      fs.utimesSync(file, new Date(), new Date(Date.now() + 2_000));
      await waitFor(() => logs.some(([level]) => level === 'error'));
      const refused = logs.find(([level]) => level === 'error')!;
      expect(refused[1]).toBe('config change refused: the running config stays');
      expect(String(refused[2].reason)).toMatch(/replication\.photos\.Rules\.0\.Status/);
      expect(current.replication.photos!.Rules.map((r) => r.ID)).toEqual(['a', 'b']);
    } finally {
      watcher.stop();
    }
  });

  test('the first check takes over a change made while the process started; onChange follows each change', async () => {
    logs.length = 0;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crr-config-')), 'crr.config.json');
    const current = parseEngineConfig(raw([rule('a', 'a/')]), {});
    // Written after the process read its config, before it watched the file.
    saveEngineConfig(file, withDr());
    const changes: ConfigChange[] = [];
    const watcher = watchEngineConfig(
      file,
      current,
      logger,
      20,
      {},
      {
        fixedConnections: [],
        onChange: async (change) => {
          await new Promise((r) => setTimeout(r, 30));
          changes.push(change);
        },
      },
    );
    try {
      await waitFor(() => changes.length === 1);
      expect(changes[0]!.sites.added).toEqual(['dr']);
      expect('dr' in current.sites).toBe(true);
      const reloaded = logs.find(([, message]) => message === 'config reloaded: replication rules in effect');
      expect(reloaded?.[2]).toMatchObject({ reloaded: ['replication', 'sites'], sites: { added: ['dr'] } });

      // Unchanged file: nothing happens. A bad file: refused, no onChange.
      await new Promise((r) => setTimeout(r, 100));
      expect(changes).toHaveLength(1);
      fs.writeFileSync(file, JSON.stringify({ ...withDr(), sites: { source: { endpoint: 'nope' } } }));
      await waitFor(() => logs.some(([level]) => level === 'error'));
      expect(String(logs.find(([level]) => level === 'error')![2].reason)).toMatch(/sites\.source\.endpoint/);
      await watcher.idle();
      expect(changes).toHaveLength(1);
      expect(current.sites.source!.endpoint).toBe('http://127.0.0.1:9000');
    } finally {
      watcher.stop();
    }
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyConfigChange, watchEngineConfig } from '../../config/config-watcher';
import { parseEngineConfig, saveEngineConfig } from '../../config/engine-config';

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
  expect(change).toEqual({ reloaded: ['replication'], restartNeeded: ['worker'] });
  expect(holder.config.replication.photos!.Rules.map((r) => r.ID)).toEqual(['a', 'b']);
  expect(holder.config.worker.partConcurrency).toBe(4);
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
});

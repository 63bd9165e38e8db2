import type { Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { parseEngineConfig, type SiteConfig } from '../../config/engine-config';
import { SiteGate } from '../../workers/site-gate';
import { planSiteReload, ruleSites } from '../../workers/site-reload';

const rule = (id: string, site: string) => ({
  ID: id,
  Status: 'Enabled',
  Priority: id.charCodeAt(0),
  Filter: { Prefix: '' },
  DeleteMarkerReplication: { Status: 'Enabled' },
  Destination: { Bucket: `arn:aws:s3:::${id}-dst`, StorageClass: site },
});
const siteEntries = {
  source: { endpoint: 'http://127.0.0.1:9000', profile: 'src' },
  west: { endpoint: 'http://127.0.0.1:9100', profile: 'west' },
  dr: { endpoint: 'http://127.0.0.1:9100', profile: 'west' },
};
const config = (sites: Array<keyof typeof siteEntries>, rules: Array<[string, string]>) =>
  parseEngineConfig(
    {
      sourceSite: 'source',
      sites: Object.fromEntries(sites.map((s) => [s, siteEntries[s]])),
      replication: { photos: { Role: 'arn:aws:iam::1:role/r', Rules: rules.map(([id, s]) => rule(id, s)) } },
    },
    {},
  );
const connected = (c: ReturnType<typeof config>) =>
  new Map<string, SiteConfig>(Object.entries(c.sites).map(([name, site]) => [name, { ...site }]));

describe('what a worker does after a config change (planSiteReload)', () => {
  const before = config(['source', 'west'], [['a', 'west']]);

  test('nothing when nothing it serves or connects to changed', () => {
    expect(
      planSiteReload({
        config: before,
        served: ['west'],
        connections: connected(before),
        explicitSites: false,
      }),
    ).toEqual({ start: [], connect: [], removed: [], unused: [], notServed: [] });
  });

  test('a site added with its rule is started and connected', () => {
    const after = config(
      ['source', 'west', 'dr'],
      [
        ['a', 'west'],
        ['b', 'dr'],
      ],
    );
    expect(
      planSiteReload({
        config: after,
        served: ['west'],
        connections: connected(before),
        explicitSites: false,
      }),
    ).toEqual({ start: ['dr'], connect: ['dr'], removed: [], unused: [], notServed: [] });
  });

  test('started with --sites: a new site is not served, only reported', () => {
    const after = config(
      ['source', 'west', 'dr'],
      [
        ['a', 'west'],
        ['b', 'dr'],
      ],
    );
    expect(
      planSiteReload({
        config: after,
        served: ['west'],
        connections: connected(before),
        explicitSites: true,
      }),
    ).toEqual({ start: [], connect: [], removed: [], unused: [], notServed: ['dr'] });
  });

  test('a changed endpoint or profile (source included) gets a new client', () => {
    const after = config(['source', 'west'], [['a', 'west']]);
    after.sites.west = { ...after.sites.west!, endpoint: 'http://10.0.0.2:9100' };
    after.sites.source = { ...after.sites.source!, profile: 'src-rotated' };
    expect(
      planSiteReload({ config: after, served: ['west'], connections: connected(before), explicitSites: true })
        .connect,
    ).toEqual(['source', 'west']);
  });

  test('a served site removed from the config, or from every rule, is kept and reported', () => {
    const withDr = config(
      ['source', 'west', 'dr'],
      [
        ['a', 'west'],
        ['b', 'dr'],
      ],
    );
    const withoutDr = config(['source', 'west'], [['a', 'west']]);
    expect(
      planSiteReload({
        config: withoutDr,
        served: ['west', 'dr'],
        connections: connected(withDr),
        explicitSites: false,
      }),
    ).toEqual({ start: [], connect: [], removed: ['dr'], unused: [], notServed: [] });
    const drUnused = config(['source', 'west', 'dr'], [['a', 'west']]);
    expect(ruleSites(drUnused)).toEqual(new Set(['west']));
    expect(
      planSiteReload({
        config: drUnused,
        served: ['west', 'dr'],
        connections: connected(withDr),
        explicitSites: false,
      }),
    ).toEqual({ start: [], connect: [], removed: [], unused: ['dr'], notServed: [] });
  });
});

/** A Worker stand-in: runs until shut down. */
function fakeWorker(site: string, events: string[]): Worker {
  let state = 'RUNNING';
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  return {
    getState: () => state,
    run: async () => {
      events.push(`run ${site}`);
      await stopped;
    },
    shutdown: () => {
      state = 'STOPPED';
      events.push(`shutdown ${site}`);
      stop();
    },
  } as unknown as Worker;
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;

describe('SiteGate.add: a site added while the worker runs', () => {
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(done()).toBe(true);
  };

  test('starts its Worker, follows pause and resume, and is shut down by stop()', async () => {
    const events: string[] = [];
    const paused = new Set<string>();
    const gate = new SiteGate(['west'], {
      start: (site) => Promise.resolve(fakeWorker(site, events)),
      pauseState: (site) => Promise.resolve({ paused: paused.has(site) }),
      pollMs: 10,
      logger: silent,
    });
    await gate.start();
    expect(await gate.add('dr')).toBe('running');
    expect(await gate.add('dr')).toBeUndefined();
    expect(gate.served()).toEqual(['west', 'dr']);
    expect(events).toEqual(['run west', 'run dr']);

    paused.add('dr');
    await until(() => events.includes('shutdown dr'));
    expect(gate.states()).toEqual([
      { site: 'west', state: 'running' },
      { site: 'dr', state: 'paused' },
    ]);
    paused.delete('dr');
    await until(() => events.filter((e) => e === 'run dr').length === 2);

    await gate.stop();
    await gate.done();
    expect(events.filter((e) => e.startsWith('shutdown')).sort()).toEqual([
      'shutdown dr',
      'shutdown dr',
      'shutdown west',
    ]);
  });

  test('a paused site is not served until resumed', async () => {
    const events: string[] = [];
    const paused = new Set(['dr']);
    const gate = new SiteGate([], {
      start: (site) => Promise.resolve(fakeWorker(site, events)),
      pauseState: (site) => Promise.resolve({ paused: paused.has(site) }),
      pollMs: 10,
      logger: silent,
    });
    await gate.start();
    expect(await gate.add('dr')).toBe('paused');
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual([]);
    paused.delete('dr');
    await until(() => events.includes('run dr'));
    await gate.stop();
  });

  test('a Worker that cannot be created fails that site only; a later add tries again', async () => {
    const events: string[] = [];
    let refuse = true;
    const gate = new SiteGate(['west'], {
      start: (site) =>
        site === 'dr' && refuse
          ? Promise.reject(new Error('task queue refused'))
          : Promise.resolve(fakeWorker(site, events)),
      pauseState: () => Promise.resolve({ paused: false }),
      pollMs: 10,
      logger: silent,
    });
    await gate.start();
    await expect(gate.add('dr')).rejects.toThrow('task queue refused');
    expect(gate.served()).toEqual(['west']);
    refuse = false;
    expect(await gate.add('dr')).toBe('running');
    await gate.stop();
    await expect(gate.done()).resolves.toBeUndefined();
    expect(events).toEqual(['run west', 'run dr', 'shutdown west', 'shutdown dr']);
  });

  test('nothing is added once the gate stops', async () => {
    const gate = new SiteGate([], {
      start: () => Promise.reject(new Error('not expected')),
      pauseState: () => Promise.resolve({ paused: false }),
      pollMs: 10,
      logger: silent,
    });
    await gate.start();
    await gate.stop();
    expect(await gate.add('dr')).toBeUndefined();
    expect(gate.served()).toEqual([]);
  });
});

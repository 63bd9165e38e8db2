import { Gauge, type Registry } from 'prom-client';
import type { BackfillProgress } from '../shared/backfill';

/** A running backfill as the gauges need it. */
export interface BackfillSample {
  site: string;
  bucket: string;
  prefix: string;
  progress: BackfillProgress;
}

const VERSION_STATES = {
  listed: (p: BackfillProgress) => p.listed,
  skipped: (p: BackfillProgress) => p.skipped,
  submitted: (p: BackfillProgress) => p.submitted,
  replicated: (p: BackfillProgress) => p.replicated,
  already_replicated: (p: BackfillProgress) => p.alreadyReplicated,
  not_replicated: (p: BackfillProgress) => p.notReplicated,
  failed: (p: BackfillProgress) => p.failed,
  skipped_failed: (p: BackfillProgress) => p.skippedFailed,
  total: (p: BackfillProgress) => p.totalVersions,
};
const BYTE_STATES = {
  submitted: (p: BackfillProgress) => p.submittedBytes,
  replicated: (p: BackfillProgress) => p.replicatedBytes,
  total: (p: BackfillProgress) => p.totalBytes,
};

const readers = new WeakMap<Registry, () => Promise<BackfillSample[]>>();

/**
 * The running backfills' progress as gauges, read when Prometheus scrapes (from the Temporal
 * server, cached for `cacheMs`): the numbers `replication backfill status` shows. A backfill's
 * series go away when it ends.
 */
export function registerBackfillGauges(
  registry: Registry,
  read: () => Promise<BackfillSample[]>,
  cacheMs = 5_000,
): void {
  // Registered once per registry; a later call (an API started again) replaces the reader.
  const known = readers.get(registry);
  readers.set(registry, read);
  if (known) return;
  let cached: { at: number; samples: BackfillSample[] } | undefined;
  const samples = async () => {
    if (!cached || Date.now() - cached.at > cacheMs) {
      try {
        cached = { at: Date.now(), samples: await readers.get(registry)!() };
      } catch {
        cached = { at: Date.now(), samples: cached?.samples ?? [] };
      }
    }
    return cached.samples;
  };
  const labelNames = ['site', 'bucket', 'prefix', 'state'] as const;
  new Gauge({
    name: 'crr_backfill_versions',
    help: 'Running backfills: versions listed, skipped (filters, rules), submitted, replicated, already replicated, not replicated, failed, left FAILED, and the total to submit (once counted)',
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await samples())
        for (const [state, of] of Object.entries(VERSION_STATES)) {
          const value = of(s.progress);
          if (value !== undefined)
            this.set({ site: s.site, bucket: s.bucket, prefix: s.prefix, state }, value);
        }
    },
  });
  new Gauge({
    name: 'crr_backfill_bytes',
    help: 'Running backfills: bytes submitted, replicated, and the total to submit (once counted)',
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await samples())
        for (const [state, of] of Object.entries(BYTE_STATES)) {
          const value = of(s.progress);
          if (value !== undefined)
            this.set({ site: s.site, bucket: s.bucket, prefix: s.prefix, state }, value);
        }
    },
  });
  new Gauge({
    name: 'crr_backfill_eta_seconds',
    help: 'Running backfills: estimated seconds left (absent until it can be told)',
    labelNames: ['site', 'bucket', 'prefix'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await samples())
        if (s.progress.etaSeconds !== undefined)
          this.set({ site: s.site, bucket: s.bucket, prefix: s.prefix }, s.progress.etaSeconds);
    },
  });
}

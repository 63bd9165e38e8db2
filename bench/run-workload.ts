import type { DirectJournal } from './direct-journal';
import { JOURNAL_VARIANTS, sourceBucketOf, variantsOf, type JournalVariant } from './journal-variants';
import { log } from './log';
import { measureBaselines, type Peers } from './measure-baselines';
import { measureOurs, type EngineUnderTest } from './measure-engine';
import type { WorkloadResult } from './report';
import type { WorkloadSpec } from './workloads';

export type WorkloadContext = EngineUnderTest &
  Peers & {
    directJournal: DirectJournal;
    /** false: the peers are not measured (a later configuration of a multi-configuration run). */
    baselines?: boolean;
  };

/** The engine through each of the workload's journal variants, then the peers on the same objects. */
export async function runWorkload(spec: WorkloadSpec, ctx: WorkloadContext): Promise<WorkloadResult> {
  const bucket = sourceBucketOf(spec, JOURNAL_VARIANTS[0]!);
  log(`${spec.id}: ${spec.title}`);
  const measured: Partial<Record<JournalVariant['measurement'], WorkloadResult['ours']>> = {};
  let bytes = 0;
  for (const variant of variantsOf(spec)) {
    // Without notifications the bench itself writes the journal record after each PUT.
    const writer = variant.notification ? ctx.source : ctx.directJournal.wrap(ctx.source);
    const run = await measureOurs(spec, ctx, sourceBucketOf(spec, variant), writer, variant.label);
    measured[variant.measurement] = run.ours;
    if (variant.measurement === 'ours') bytes = run.bytes;
  }
  // BENCH_BASELINES=0 measures the engine alone (quicker, while trying a change).
  const baselines =
    ['W1', 'W2', 'W2p'].includes(spec.id) && process.env.BENCH_BASELINES !== '0' && ctx.baselines !== false
      ? await measureBaselines(spec, ctx, bucket, bytes)
      : {};
  return {
    id: spec.id,
    title: spec.title,
    ours: measured.ours!,
    direct: measured.direct,
    unqueued: measured.unqueued,
    baselines,
  };
}

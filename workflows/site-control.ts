import { condition, continueAsNew, setHandler, upsertMemo } from '@temporalio/workflow';
import {
  pauseSiteSignal,
  resumeSiteSignal,
  SITE_CONTROL_MEMO,
  siteControlStateQuery,
  type SiteControlState,
} from '../shared/workflow-contract';

/** Changes a run accepts before it continues as new (bounds its history). */
const CHANGES_PER_RUN = 500;

/**
 * The pause state of one destination site, durable in Temporal: `pauseSite` and
 * `resumeSite` signals change it, a pause with `hours` resumes on its own (a durable timer,
 * so it happens even if every process restarted meanwhile), and every change is mirrored in
 * the memo that workers poll. Never completes: it is the site's record.
 */
export async function siteControlWorkflow(input: { site: string; state?: SiteControlState }): Promise<void> {
  const state: SiteControlState = input.state ?? { site: input.site, paused: false };
  let changes = 0;
  const publish = () => {
    changes++;
    state.changedAt = new Date().toISOString();
    upsertMemo({ [SITE_CONTROL_MEMO]: { ...state } });
  };

  setHandler(siteControlStateQuery, () => ({ ...state }), {
    description: 'whether the site is paused, since when, and when it resumes on its own',
  });
  setHandler(
    pauseSiteSignal,
    (request) => {
      const now = new Date();
      if (!state.paused) state.pausedAt = now.toISOString();
      state.paused = true;
      state.reason = request.reason;
      state.resumeAt =
        request.hours !== undefined
          ? new Date(now.getTime() + request.hours * 3_600_000).toISOString()
          : undefined;
      publish();
    },
    { description: 'pause the site: {"hours": n} resumes it on its own after n hours (`replication pause`)' },
  );
  setHandler(
    resumeSiteSignal,
    () => {
      state.paused = false;
      state.pausedAt = undefined;
      state.resumeAt = undefined;
      state.reason = undefined;
      publish();
    },
    { description: 'resume the site now; waiting versions drain in order (`replication resume`)' },
  );

  if (input.state === undefined) publish();
  for (;;) {
    const seen = changes;
    const changed = () => changes !== seen;
    if (state.paused && state.resumeAt) {
      const waitMs = Date.parse(state.resumeAt) - Date.now();
      const signalled = waitMs > 0 ? await condition(changed, waitMs) : false;
      if (!signalled) {
        state.paused = false;
        state.pausedAt = undefined;
        state.resumeAt = undefined;
        state.reason = 'resumed as scheduled';
        publish();
      }
    } else {
      await condition(changed);
    }
    if (changes >= CHANGES_PER_RUN) {
      await continueAsNew<typeof siteControlWorkflow>({ site: input.site, state: { ...state } });
    }
  }
}

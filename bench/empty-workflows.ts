import { defineSignal, setHandler, condition } from '@temporalio/workflow';

export const touch = defineSignal('touch');

/** Does nothing but receive one signal and complete: measures Temporal's own ceiling. */
export async function emptyWorkflow(): Promise<void> {
  let touched = false;
  setHandler(touch, () => {
    touched = true;
  });
  await condition(() => touched);
}

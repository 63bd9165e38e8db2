import { proxyActivities } from '@temporalio/workflow';
import type { createSmokeActivities } from './smoke-activities';

const { describeWorker } = proxyActivities<ReturnType<typeof createSmokeActivities>>({
  startToCloseTimeout: '30 seconds',
});

export async function smokeWorkflow(name: string): Promise<string> {
  return await describeWorker(name);
}

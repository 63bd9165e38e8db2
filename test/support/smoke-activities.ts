import { Context } from '@temporalio/activity';

export function createSmokeActivities(workerTag: string) {
  return {
    async describeWorker(name: string): Promise<string> {
      return `${name} ran on ${workerTag} (activity ${Context.current().info.activityType})`;
    },
  };
}

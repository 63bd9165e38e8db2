import { ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { describeS3Error } from '../clients/s3-errors';

export interface Dependency {
  name: string;
  ok: boolean;
  detail?: string;
}

const CHECK_TIMEOUT_MS = 3_000;

function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function check(name: string, probe: () => Promise<unknown>): Promise<Dependency> {
  try {
    await within(CHECK_TIMEOUT_MS, name, probe());
    return { name, ok: true };
  } catch (err) {
    return { name, ok: false, detail: describeS3Error(err) };
  }
}

/** What the engine needs, each checked with a bound: Kafka, Temporal and every site. */
export async function checkDependencies(deps: {
  kafka: Kafka;
  temporal: Client;
  sites: ReadonlyMap<string, S3Client>;
}): Promise<Dependency[]> {
  return Promise.all([
    check('kafka', async () => {
      const admin = deps.kafka.admin();
      try {
        await admin.connect();
        await admin.describeCluster();
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }),
    check('temporal', () => deps.temporal.workflowService.getSystemInfo({})),
    ...[...deps.sites].map(([site, s3]) => check(`site ${site}`, () => s3.send(new ListBucketsCommand({})))),
  ]);
}

import { S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import type { S3SiteEndpoint, StackInfo } from '../../stack/stack';

/** The real stack started by test/global-setup.ts; fails loudly when it is not there. */
export function testStack(): StackInfo {
  const raw = process.env.CRR_TEST_STACK;
  if (!raw) {
    throw new Error(
      'No test stack: integration tests need the real Temporal, Kafka and MinIO servers that ' +
        'test/global-setup.ts starts. Run them with `npm test` (or `npx jest`), not with CRR_UNIT_ONLY=1; ' +
        'to use your own servers set TEMPORAL_ADDRESS, KAFKA_BROKERS and CRR_SOURCE_/CRR_TARGET_ENDPOINT.',
    );
  }
  return JSON.parse(raw) as StackInfo;
}

export function s3ClientFor(site: S3SiteEndpoint): S3Client {
  return new S3Client({
    endpoint: site.endpoint,
    region: site.region,
    forcePathStyle: true,
    credentials: { accessKeyId: site.accessKeyId, secretAccessKey: site.secretAccessKey },
  });
}

export function kafkaFor(stack: StackInfo, clientId = 'crr-test'): Kafka {
  return new Kafka({ clientId, brokers: stack.kafka.brokers, logLevel: logLevel.ERROR });
}

/** A bucket name unique to one test (S3 names: lower case, digits, hyphens, 3-63 chars). */
export function uniqueBucket(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`.slice(0, 63);
}

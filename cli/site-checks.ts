import {
  CreateBucketCommand,
  GetBucketNotificationConfigurationCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { errorCode, statusCode } from '../clients/s3-errors';

/** One line a user can act on, e.g. "source site: credentials rejected (profile crr-source)". */
export class SetupProblem extends Error {}

/** Explains an S3 failure in terms of what the user has to fix. */
export function explainS3Error(
  what: string,
  endpoint: string,
  credentialSource: string,
  err: unknown,
): string {
  const code = errorCode(err);
  const status = statusCode(err);
  const message = (err as Error)?.message ?? String(err);
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidClientTokenId'].includes(code)) {
    return `${what}: credentials rejected by ${endpoint} (${credentialSource}): ${code}`;
  }
  if (
    code === 'CredentialsProviderError' ||
    (/profile|credentials/i.test(message) &&
      status === undefined &&
      !/ECONN|ENOTFOUND|ETIMEDOUT/.test(message))
  ) {
    return `${what}: no usable credentials (${credentialSource}): ${message}`;
  }
  if (status === undefined) return `${what}: ${endpoint} is unreachable: ${message}`;
  if (code === 'AccessDenied' || status === 403)
    return `${what}: access denied at ${endpoint} (${credentialSource})`;
  return `${what}: ${code}${status ? ` (HTTP ${status})` : ''}: ${message}`;
}

/** Creates the bucket when missing; a bucket that exists but is not ours is an error. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<'created' | 'exists'> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return 'exists';
  } catch (err) {
    const status = statusCode(err);
    if (status === 403)
      throw new SetupProblem(`bucket ${bucket} exists but is owned by another account (access denied)`);
    if (status !== 404) throw err;
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return 'created';
  } catch (err) {
    const code = errorCode(err);
    if (code === 'BucketAlreadyOwnedByYou') return 'exists';
    if (code === 'BucketAlreadyExists')
      throw new SetupProblem(`bucket ${bucket} is owned by another account`);
    throw err;
  }
}

export async function ensureVersioning(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  if (versioning.Status !== 'Enabled') {
    throw new SetupProblem(
      `bucket ${bucket}: the site refused to enable versioning (status ${versioning.Status ?? 'unset'})`,
    );
  }
}

export async function checkVersioning(s3: S3Client, bucket: string): Promise<void> {
  const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  if (versioning.Status !== 'Enabled')
    throw new SetupProblem(`bucket ${bucket}: versioning is not enabled (replication requires it)`);
}

const JOURNAL_NOTIFICATION_ID = 'crr-journal';

/** Attaches the journal notification to the source bucket, keeping any other notifications. */
export async function attachJournalNotification(
  s3: S3Client,
  bucket: string,
  queueArn: string,
): Promise<void> {
  const current = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
  const others = (current.QueueConfigurations ?? []).filter(
    (q) => q.Id !== JOURNAL_NOTIFICATION_ID && q.QueueArn !== queueArn,
  );
  try {
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: bucket,
        NotificationConfiguration: {
          TopicConfigurations: current.TopicConfigurations,
          LambdaFunctionConfigurations: current.LambdaFunctionConfigurations,
          QueueConfigurations: [
            ...others,
            {
              Id: JOURNAL_NOTIFICATION_ID,
              QueueArn: queueArn,
              Events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'],
            },
          ],
        },
      }),
    );
  } catch (err) {
    if (/arn/i.test((err as Error).message) || errorCode(err) === 'InvalidArgument') {
      throw new SetupProblem(
        `bucket ${bucket}: the source site has no journal target ${queueArn}; start it with MINIO_NOTIFY_KAFKA_ENABLE_JOURNAL=on and MINIO_NOTIFY_KAFKA_* settings (see docs/DEVELOPMENT.md), or pass --no-notification when the journal comes from elsewhere`,
      );
    }
    throw err;
  }
}

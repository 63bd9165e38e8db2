import fs from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createKafka } from '../../clients/kafka';
import { createS3Client } from '../../clients/s3';
import { upsertProfile } from '../../config/credentials-file';
import { loadEngineConfig } from '../../config/engine-config';
import { ManagedProcess } from '../../stack/managed-process';
import { defaultStateDir, repoRoot } from '../../stack/paths';
import { LOCAL_SITE_CREDENTIALS, startStack } from '../../stack/stack';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { lookupReplication } from '../../operations/replication-lookup';
import { connectTemporal } from '../../clients/temporal';
import { localSetupOptions, runSetup } from './setup';
import { WORKER_NODE_FLAGS } from '../../workers/node-flags';
import { REPLICA_STATUS_FIELD, SOURCE_VERSION_FIELD } from '../../shared/replica-marker';

const SOURCE_BUCKET = 'source-bucket';
const TARGET_BUCKET = 'target-bucket';
const FIRST_KEY = 'object-to-replicate';

/**
 * `npm start`: the seed's quickstart, made one command. Starts the stack, sets up
 * source-bucket → target-bucket with the `setup` command's code, runs the worker and the
 * populator as their own processes, replicates a first object and then keeps running.
 */
export async function runDemo(out: (line: string) => void): Promise<void> {
  // The demo's output is for people: keep the SDK's Node-version notice (see docs) out of it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const stateDir = defaultStateDir();
  out('[demo] starting the local stack (Temporal, Kafka, source and target MinIO sites)...');
  const stack = await startStack({ stateDir, ports: 'default', log: (l) => out(`[stack] ${l}`) });
  const { info } = stack;
  const children: ManagedProcess[] = [];
  const shutdown = async () => {
    out('\n[demo] stopping worker, populator and stack...');
    await Promise.all(children.map((c) => c.stop()));
    await stack.stop();
    out('[demo] stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());

  const credentialsFile = path.join(stateDir, 'aws', 'credentials');
  upsertProfile(credentialsFile, 'crr-source', LOCAL_SITE_CREDENTIALS.source);
  upsertProfile(credentialsFile, 'crr-target', LOCAL_SITE_CREDENTIALS.target);
  process.env.AWS_SHARED_CREDENTIALS_FILE = credentialsFile;
  const configPath = path.join(stateDir, 'crr.config.json');
  const base = fs.existsSync(configPath)
    ? (JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>)
    : {};
  fs.writeFileSync(
    configPath,
    JSON.stringify(
      {
        ...base,
        kafka: { brokers: info.kafka.brokers },
        temporal: { address: info.temporal.address, namespace: info.temporal.namespace },
      },
      null,
      2,
    ),
  );

  out(
    `[demo] replication setup --source-bucket ${SOURCE_BUCKET} --source-profile crr-source --target-bucket ${TARGET_BUCKET} --target-profile crr-target`,
  );
  const problems = await runSetup(
    localSetupOptions({
      config: configPath,
      sourceBucket: SOURCE_BUCKET,
      targetBucket: TARGET_BUCKET,
      sourceEndpoint: info.sites.source.endpoint,
      targetEndpoint: info.sites.target.endpoint,
    }),
    (line) => out(`  ${line}`),
  );
  if (problems > 0) throw new Error('setup failed');

  const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
  const env = { CRR_CONFIG: configPath, AWS_SHARED_CREDENTIALS_FILE: credentialsFile };
  for (const [name, entry] of [
    ['worker', 'workers/main.ts'],
    ['populator', 'populator/main.ts'],
  ] as const) {
    children.push(
      new ManagedProcess({
        name,
        command: tsx,
        args: [...(name === 'worker' ? WORKER_NODE_FLAGS : []), path.join(repoRoot, entry)],
        env,
        cwd: repoRoot,
        logFile: path.join(info.logDir, `${name}.log`),
      }),
    );
    out(`[demo] ${name} started (log: ${path.join(info.logDir, `${name}.log`)})`);
  }

  const config = loadEngineConfig(configPath);
  const source = createS3Client({ ...config.sites.source!, credentials: LOCAL_SITE_CREDENTIALS.source });
  const target = createS3Client({ ...config.sites.target!, credentials: LOCAL_SITE_CREDENTIALS.target });
  const put = await source.send(
    new PutObjectCommand({
      Bucket: SOURCE_BUCKET,
      Key: FIRST_KEY,
      Body: 'content to be replicated\n',
      ContentType: 'text/plain',
    }),
  );
  out(`[demo] put s3://${SOURCE_BUCKET}/${FIRST_KEY} version ${put.VersionId}`);

  const temporal = await connectTemporal(config);
  let last = '';
  const deadline = Date.now() + 180_000;
  for (;;) {
    children.forEach((c) => c.assertRunning());
    const status = await lookupReplication(
      temporal.client,
      'target',
      SOURCE_BUCKET,
      FIRST_KEY,
      put.VersionId,
    ).catch(() => undefined);
    const version = status?.versions[0];
    const now = version?.status ?? 'PENDING';
    if (now !== last) {
      out(
        `[demo] replication status of version ${put.VersionId} at site target: ${now}${version?.reason ? ` (${version.reason})` : ''}`,
      );
      last = now;
    }
    if (now === 'COMPLETED' || now === 'FAILED') break;
    if (Date.now() > deadline)
      throw new Error(`no COMPLETED status after 180 s; see ${info.logDir}/worker.log and populator.log`);
    await new Promise((r) => setTimeout(r, 300));
  }
  const head = await target.send(new HeadObjectCommand({ Bucket: TARGET_BUCKET, Key: FIRST_KEY }));
  out(
    `[demo] target copy s3://${TARGET_BUCKET}/${FIRST_KEY}: x-amz-meta-${REPLICA_STATUS_FIELD}=${head.Metadata?.[REPLICA_STATUS_FIELD]}, ` +
      `source version ${head.Metadata?.[SOURCE_VERSION_FIELD]}, ${head.ContentLength} bytes, ETag ${head.ETag}`,
  );
  const workflowId = replicationWorkflowId('target', SOURCE_BUCKET, FIRST_KEY);
  out('');
  const workflows = `${info.temporal.uiUrl}/namespaces/${info.temporal.namespace}/workflows`;
  const temporalCli = stack.servers.temporal?.process.options.command ?? 'temporal';
  out(`[demo] Temporal Web UI: ${workflows} (this one: ${workflowId})`);
  out(`[demo] failed replications: ${workflows}?query=${encodeURIComponent('CrrStatus="FAILED"')}`);
  out(
    `[demo] Temporal gRPC ${info.temporal.address}; its CLI: ${temporalCli} workflow list --address ${info.temporal.address} --query 'CrrStatus="FAILED"'`,
  );
  out(`[demo] put more objects (e.g. with the AWS CLI):`);
  out(
    `  AWS_SHARED_CREDENTIALS_FILE=${credentialsFile} aws --profile crr-source --endpoint-url ${info.sites.source.endpoint} s3 cp ./file s3://${SOURCE_BUCKET}/my-key`,
  );
  out(
    `[demo] check one:  CRR_CONFIG=${configPath} npm run -s replication -- status s3://${SOURCE_BUCKET}/my-key`,
  );
  out(`[demo] failures:   CRR_CONFIG=${configPath} npm run -s replication -- failed`);
  out('[demo] replication events follow (Ctrl-C stops everything):');

  const kafka = createKafka(config, 'cli');
  const consumer = kafka.consumer({ groupId: `crr-demo-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: info.topics.status, fromBeginning: false });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const e = JSON.parse(message.value?.toString() ?? '{}') as Record<string, string>;
      if (e.status === 'COMPLETED' || e.status === 'FAILED') {
        out(
          `  ${e.status} ${e.operation} s3://${e.bucket}/${e.key} version ${e.versionId} → ${e.site}${e.reason ? `: ${e.reason}` : ''}`,
        );
      }
    },
  });
}

/**
 * S3 sites over HTTPS signed by a private CA (issue 13): a MinIO site served over HTTPS with a
 * CA this test makes with openssl. With the CA in `sites.<name>.caFile` the engine's S3
 * client, `replication validate` and a replication end to end work; with another CA the
 * connection is refused with an error that names the site and the file to check; fixing the
 * file takes effect without a restart (same client, next connection).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client, createSiteClient } from '../../clients/s3';
import { upsertProfile } from '../../config/credentials-file';
import { parseEngineConfig } from '../../config/engine-config';
import { runReplicationCli } from '../support/cli-process';
import { ReplicationHarness } from '../support/replication-harness';
import { makeTestPki, SecureServers, testSecret, type TestPki } from '../support/secure-stack';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';
import { replaceFile } from '../support/test-certificates';
import type { S3SiteEndpoint } from '../../stack/minio';

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const servers = new SecureServers('s3-tls');
const keys = { accessKeyId: 'crr-tls-admin', secretAccessKey: testSecret('tlssite') };
const tlsBucket = uniqueBucket('tls-dst');
const wrongBucket = uniqueBucket('tls-wrong-dst');
let pki: TestPki;
let site: S3SiteEndpoint;
let rightCa: string;
let admin: S3Client;
let harness: ReplicationHarness;

function siteEntry(caFile: string) {
  return { endpoint: site.endpoint, region: 'us-east-1', forcePathStyle: true, profile: 'crr-tls', caFile };
}

beforeAll(async () => {
  pki = makeTestPki(servers.dir);
  site = await servers.httpsSite(pki, 'tls-target', keys);
  rightCa = pki.ca.certFile;
  admin = createS3Client({ ...siteEntry(rightCa), name: 'tls', credentials: keys });
  for (const bucket of [tlsBucket, wrongBucket]) {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    await admin.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  }
  const rule = (id: string, prefix: string, bucket: string, siteName: string, priority: number) => ({
    ID: id,
    Priority: priority,
    Status: 'Enabled',
    Filter: { Prefix: prefix },
    Destination: { Bucket: `arn:aws:s3:::${bucket}`, StorageClass: siteName },
    DeleteMarkerReplication: { Status: 'Enabled' },
  });
  harness = new ReplicationHarness(
    stack,
    'tls',
    [{ site: 'target', bucket: uniqueBucket('tls-plain-dst'), prefix: 'plain/' }],
    { maxAttempts: 2 },
    (raw) => {
      raw.sites.tls = siteEntry(rightCa);
      raw.sites['tls-wrong'] = siteEntry(pki.wrongCa.certFile);
      raw.replication[harness.sourceBucket]!.Rules.push(
        rule('to-tls', 'tls/', tlsBucket, 'tls', 50),
        rule('to-tls-wrong', 'wrong/', wrongBucket, 'tls-wrong', 51),
      );
    },
    { 'crr-tls': keys },
  );
  await harness.start();
}, 180_000);

afterAll(async () => {
  await harness?.stop();
  admin?.destroy();
  await servers.stop();
}, 60_000);

describe('an S3 site over HTTPS with a private CA', () => {
  test('the right CA in sites.<name>.caFile: the engine S3 client works', async () => {
    const config = parseEngineConfig({ sourceSite: 'tls', sites: { tls: siteEntry(rightCa) } }, {});
    const s3 = createSiteClient('tls', config.sites.tls!);
    try {
      const buckets = await s3.send(new ListBucketsCommand({}));
      expect(buckets.Buckets?.map((b) => b.Name)).toContain(tlsBucket);
    } finally {
      s3.destroy();
    }
  });

  test('another CA: refused, the error names the site, the endpoint and the file', async () => {
    const config = parseEngineConfig(
      { sourceSite: 'oslo', sites: { oslo: siteEntry(pki.wrongCa.certFile) } },
      {},
    );
    const s3 = createSiteClient('oslo', config.sites.oslo!);
    try {
      const err = await s3.send(new ListBucketsCommand({})).then(
        () => undefined,
        (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } },
      );
      expect(err).toBeDefined();
      expect(err!.message).toContain(`site "oslo" (${site.endpoint}): TLS connection refused`);
      expect(err!.message).toContain(`not signed by a CA of sites.oslo.caFile ${pki.wrongCa.certFile}`);
      expect(err!.message).toMatch(/unable to verify the first certificate|self-signed certificate/);
      expect(err!.$metadata?.httpStatusCode).toBeUndefined(); // no HTTP answer: nothing was sent
    } finally {
      s3.destroy();
    }
  });

  test('no caFile: the system CAs do not know the private CA, and the error says what to set', async () => {
    const s3 = createS3Client({
      endpoint: site.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      name: 'dr',
      credentials: keys,
    });
    try {
      await expect(s3.send(new ListBucketsCommand({}))).rejects.toThrow(
        /site "dr" .*not signed by a CA the system trusts: set sites\.dr\.caFile/,
      );
    } finally {
      s3.destroy();
    }
  });

  test('the CA file fixed in place: the same client trusts it at its next connection, without a restart', async () => {
    const file = path.join(servers.dir, 'rotated-ca.pem');
    fs.copyFileSync(pki.wrongCa.certFile, file);
    const config = parseEngineConfig({ sourceSite: 'dr', sites: { dr: siteEntry(file) } }, {});
    const s3 = createSiteClient('dr', config.sites.dr!);
    try {
      await expect(s3.send(new ListBucketsCommand({}))).rejects.toThrow(/site "dr"/);
      replaceFile(file, fs.readFileSync(rightCa));
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await s3.send(new ListBucketsCommand({}));
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      s3.destroy();
    }
  });

  test('replication validate (the real CLI): passes with the right CA, names the site with the wrong one', async () => {
    const credentials = path.join(servers.dir, 'validate-credentials');
    upsertProfile(credentials, 'crr-tls', keys);
    const write = (name: string, caFile: string) => {
      const file = path.join(servers.dir, `${name}.json`);
      fs.writeFileSync(file, JSON.stringify({ sourceSite: 'tls', sites: { tls: siteEntry(caFile) } }));
      return file;
    };
    const previous = process.env.AWS_SHARED_CREDENTIALS_FILE;
    process.env.AWS_SHARED_CREDENTIALS_FILE = credentials;
    try {
      const good = await runReplicationCli(write('validate-good', rightCa), ['validate']);
      expect(good.stdout).toContain(`site "tls" ${site.endpoint}: reachable, credentials accepted`);
      expect(good.code).toBe(0);
      const bad = await runReplicationCli(write('validate-bad', pki.wrongCa.certFile), ['validate']);
      expect(bad.code).not.toBe(0);
      expect(bad.stdout).toMatch(
        /error: site "tls": .*TLS connection refused: the server certificate is not signed by a CA of the site's caFile .*crr-other-ca\.crt \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
      );
      expect(`${good.stdout}${good.stderr}${bad.stdout}${bad.stderr}`).not.toContain(keys.secretAccessKey);
    } finally {
      process.env.AWS_SHARED_CREDENTIALS_FILE = previous;
    }
  }, 120_000);

  test('replication end to end: to the HTTPS site with its CA; the site with the wrong CA fails, naming it', async () => {
    const good = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'tls/object', Body: 'over https' }),
    );
    const wrong = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: 'wrong/object', Body: 'refused' }),
    );
    const done = await harness.waitForVersion('tls', 'tls/object', good.VersionId!, { timeoutMs: 90_000 });
    expect(done.status).toBe('COMPLETED');
    const replica = await admin.send(new HeadObjectCommand({ Bucket: tlsBucket, Key: 'tls/object' }));
    expect(replica.Metadata?.['scal-replication-status']).toBe('REPLICA');
    expect(replica.Metadata?.['scal-version-id']).toBe(good.VersionId);

    const failed = await harness.waitForVersion('tls-wrong', 'wrong/object', wrong.VersionId!, {
      timeoutMs: 120_000,
    });
    expect(failed.status).toBe('FAILED');
    expect(failed.reason).toContain(`site "tls-wrong" (${site.endpoint}): TLS connection refused`);
    expect(failed.reason).toContain('sites.tls-wrong.caFile');
  }, 240_000);
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { createS3Client } from '../../clients/s3';
import {
  ENGINE_USER_AGENT,
  STATIC_USER_AGENT_MIDDLEWARE,
  TRIMMED_MIDDLEWARE,
} from '../../clients/s3-request-pipeline';

// The headers a site client sends, read by a bare HTTP server that answers every request 404
// (this checks the client's own request building, not S3's behaviour).
let server: http.Server;
let endpoint: string;
const received: http.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    received.push(req.headers);
    res.writeHead(404, { 'content-length': '0' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received.length = 0;
});

const connection = () => ({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
});

async function headMissing(client: ReturnType<typeof createS3Client>, key = 'k') {
  const err = await client
    .send(new HeadObjectCommand({ Bucket: 'bucket', Key: key }))
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(S3ServiceException);
  expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(404);
}

describe('the site client request pipeline', () => {
  it('drops the per-request user-agent, recursion-detection and logger middleware and adds the static user agent', () => {
    const stack = createS3Client(connection()).middlewareStack.identify().join('\n');
    for (const name of TRIMMED_MIDDLEWARE) expect(stack).not.toContain(name);
    expect(stack).toContain(STATIC_USER_AGENT_MIDDLEWARE);
    const sdkDefault = createS3Client(connection(), 64, 'sdk-default').middlewareStack.identify().join('\n');
    for (const name of TRIMMED_MIDDLEWARE) expect(sdkDefault).toContain(name);
    expect(sdkDefault).not.toContain(STATIC_USER_AGENT_MIDDLEWARE);
  });

  it('sends the engine and the SDK identification on every request, and signs x-amz-user-agent', async () => {
    const client = createS3Client(connection());
    await headMissing(client, 'first');
    await headMissing(client, 'second');
    expect(received).toHaveLength(2);
    const sdkDefault = createS3Client(connection(), 64, 'sdk-default');
    await headMissing(sdkDefault);
    const [first, second, byDefault] = received;
    expect(first!['user-agent']).toMatch(new RegExp(`^${ENGINE_USER_AGENT} aws-sdk-js/\\d+\\.\\d+\\.\\d+ `));
    expect(first!['user-agent']).toContain(`md/nodejs#${process.versions.node}`);
    expect(second!['user-agent']).toBe(first!['user-agent']);
    // The same SDK identification as the SDK's own middleware, before its per-request feature list.
    expect(first!['x-amz-user-agent']).toBe(byDefault!['x-amz-user-agent']);
    expect(first!['x-amz-user-agent']).toMatch(/^aws-sdk-js\/\d+\.\d+\.\d+$/);
    const sdkParts = String(byDefault!['user-agent'])
      .split(' ')
      .filter((p) => !p.startsWith('m/'));
    expect(String(first!['user-agent']).split(' ').slice(1)).toEqual(sdkParts);
    expect(first!.authorization).toMatch(/SignedHeaders=[^,]*x-amz-user-agent/);
  });

  it('tries again on the next request when building the user agent failed', async () => {
    const client = createS3Client(connection());
    const config = client.config as unknown as { defaultUserAgentProvider: () => Promise<unknown> };
    const real = config.defaultUserAgentProvider;
    let calls = 0;
    config.defaultUserAgentProvider = async () => {
      calls += 1;
      if (calls === 1) throw new Error('no user agent this time');
      return real();
    };
    await expect(client.send(new HeadObjectCommand({ Bucket: 'bucket', Key: 'k' }))).rejects.toThrow(
      'no user agent this time',
    );
    expect(received).toHaveLength(0);
    await headMissing(client);
    expect(received[0]!['user-agent']).toMatch(new RegExp(`^${ENGINE_USER_AGENT} `));
    expect(calls).toBe(2);
  });
});

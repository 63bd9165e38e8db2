import type { S3Client } from '@aws-sdk/client-s3';
import type { BuildHandler, BuildHandlerArguments, MetadataBearer } from '@smithy/types';

/**
 * Middleware of the SDK's default stack that does nothing for the engine but costs CPU on every
 * request (`npm run bench:sdk-request`: 0.04–0.09 CPU-ms of 0.8–1.05 per request, and a
 * replicated small object takes four requests):
 * - `getUserAgentMiddleware` builds the User-Agent from about ten parts and escapes each one, on
 *   every request. `crrStaticUserAgent` sends the same identification, built once per client.
 * - `recursionDetectionMiddleware` copies AWS Lambda's trace id into a header; the engine never
 *   runs inside Lambda.
 * - `loggerMiddleware` writes to the client's logger, which the engine leaves as the SDK's no-op.
 */
export const TRIMMED_MIDDLEWARE = [
  'getUserAgentMiddleware',
  'recursionDetectionMiddleware',
  'loggerMiddleware',
] as const;

export const STATIC_USER_AGENT_MIDDLEWARE = 'crrStaticUserAgent';

/** The product's name, first in every request's User-Agent (servers' logs and traces show it). */
export const ENGINE_USER_AGENT = 'crr-temporal';

type UserAgentPair = [string, string?];

/**
 * The SDK's escaping of a user-agent pair (@aws-sdk/core's `escapeUserAgent`, not exported):
 * `[prefix/name, version]` becomes `prefix/name#version`, unsafe characters `-`.
 */
function userAgentPart([fullName, version]: UserAgentPair): string {
  const name = fullName
    .split('/')
    .map((part) => part.replace(/[^!$%&'*+\-.^_`|~\w]/g, '-'))
    .join('/');
  const slash = name.indexOf('/');
  const prefix = name.substring(0, slash);
  const rest = name.substring(slash + 1);
  return [
    prefix,
    prefix === 'api' ? rest.toLowerCase() : rest,
    version?.replace(/[^!$%&'*+\-.^_`|~\w#]/g, '-'),
  ]
    .filter((item): item is string => !!item)
    .reduce(
      (acc, item, index) => (index === 0 ? item : index === 1 ? `${acc}/${item}` : `${acc}#${item}`),
      '',
    );
}

interface UserAgentConfig {
  defaultUserAgentProvider: () => Promise<UserAgentPair[]>;
  userAgentAppId: () => Promise<string | undefined>;
}

/**
 * Replaces the per-request user-agent, recursion-detection and logger middleware of `client`
 * with one that sets the same headers from strings built on the first request: `user-agent`
 * (the engine, then the SDK's default pairs: SDK version, OS, language, Node version, and the
 * app id if one is configured) and `x-amz-user-agent` (the SDK's version, as the SDK sends it
 * from Node). Only the SDK's per-request list of features used (`m/…`) is left out.
 */
export function trimRequestPipeline(client: S3Client): void {
  for (const name of TRIMMED_MIDDLEWARE) client.middlewareStack.remove(name);
  let headers: Promise<{ userAgent: string; amzUserAgent: string }> | undefined;
  const build = async () => {
    const config = client.config as unknown as UserAgentConfig;
    const parts = (await config.defaultUserAgentProvider()).map(userAgentPart);
    const appId = await config.userAgentAppId();
    if (appId) parts.push(userAgentPart(['app', appId]));
    return {
      userAgent: [ENGINE_USER_AGENT, ...parts].join(' '),
      amzUserAgent: parts.filter((p) => p.startsWith('aws-sdk-')).join(' '),
    };
  };
  client.middlewareStack.add(
    (next: BuildHandler<object, MetadataBearer>) => async (args: BuildHandlerArguments<object>) => {
      // A failed build is not kept: the next request tries again.
      headers ??= build().catch((err: unknown) => {
        headers = undefined;
        throw err;
      });
      const { userAgent, amzUserAgent } = await headers;
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) {
        request.headers['user-agent'] = userAgent;
        if (amzUserAgent) request.headers['x-amz-user-agent'] = amzUserAgent;
      }
      return next(args);
    },
    { step: 'build', name: STATIC_USER_AGENT_MIDDLEWARE, priority: 'low' },
  );
}

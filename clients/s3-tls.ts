/**
 * HTTPS to S3 sites signed by a private CA: a site's `caFile` (a PEM bundle) is the only set
 * of CAs its connections trust (docs/SECURITY.md). The bundle is read again when the file
 * changes, without a restart and without a new client: the next connection uses it, and
 * the idle connections made with the old bundle are closed. Certificate verification is
 * never turned off. TLS failures name the site, the endpoint and what to check.
 */
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { watchedFile, type WatchedFile } from '../config/secret-files';

/**
 * An https.Agent whose connections trust the CAs of one file, as it is when each connection
 * is made. The pool key carries the bundle's version, so a changed bundle never reuses an
 * idle connection (or a TLS session) of the old one.
 */
export class CaBundleAgent extends https.Agent {
  private seenVersion = 0;
  private stalePools = false;

  constructor(
    readonly bundle: WatchedFile,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override getName(options?: https.RequestOptions): string {
    return `${super.getName(options)}:ca-bundle-${this.currentVersion()}`;
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    let ca: Buffer;
    try {
      ca = this.bundle.read();
    } catch (err) {
      // Reported on the request (the agent hands the error to it), naming the field and path.
      (callback as ((err: Error) => void) | undefined)?.(err as Error);
      return undefined;
    }
    return super.createConnection({ ...options, ca }, callback);
  }

  /** The bundle's version; idle connections of older versions are closed (also those freed since). */
  private currentVersion(): number {
    const version = this.bundle.version();
    if (version !== this.seenVersion || this.stalePools) {
      this.seenVersion = version;
      const suffix = `:ca-bundle-${version}`;
      this.stalePools = false;
      for (const [name, sockets] of Object.entries(this.freeSockets)) {
        if (name.endsWith(suffix)) continue;
        for (const socket of sockets ?? []) socket.destroy();
      }
      // Connections of an older bundle still busy are closed when they are freed.
      for (const name of Object.keys(this.sockets)) if (!name.endsWith(suffix)) this.stalePools = true;
    }
    return version;
  }
}

export function caBundleAgent(file: string, field: string, options: https.AgentOptions): CaBundleAgent {
  return new CaBundleAgent(watchedFile(field, file), options);
}

/** Node's codes for a TLS peer that could not be verified (and the handshake failures around it). */
const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

interface NodeErrorShape {
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function isTlsFailure(err: unknown): boolean {
  const e = err as NodeErrorShape;
  if (!e || e.$metadata?.httpStatusCode !== undefined) return false;
  return (
    (e.code !== undefined && TLS_CODES.has(e.code)) ||
    /certificate|self[- ]signed|wrong version number|ssl3?_|tls/i.test(e.message ?? '')
  );
}

/** What to do about a TLS failure of a site. */
export function describeTlsFailure(
  site: { name?: string; endpoint: string; caFile?: string },
  err: unknown,
): string {
  const e = err as NodeErrorShape;
  const who = site.name ? `site "${site.name}" (${site.endpoint})` : site.endpoint;
  const field = site.name ? `sites.${site.name}.caFile` : "the site's caFile";
  let advice: string;
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    advice = `the server certificate does not name the endpoint's host: use an endpoint host that the certificate names`;
  else if (e.code === 'CERT_HAS_EXPIRED' || e.code === 'CERT_NOT_YET_VALID')
    advice = 'the server certificate is outside its validity period (renew it on the server)';
  else if (e.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(e.message ?? ''))
    advice = 'the server does not speak TLS on this port (is the endpoint http://?)';
  else if (site.caFile) advice = `the server certificate is not signed by a CA of ${field} ${site.caFile}`;
  else
    advice = `the server certificate is not signed by a CA the system trusts: set ${field} to the CA bundle that signs it`;
  // (Jest's sandbox sees Node's errors as foreign objects, which the SDK wraps in a message.)
  const original = (e.message ?? String(err)).replace(/^AWS SDK error wrapper for Error: /, '');
  return `${who}: TLS connection refused: ${advice} (${e.code ? `${e.code}: ` : ''}${original})`;
}

/**
 * Makes every request of `client` that fails on TLS say which site, which endpoint and what
 * to check, keeping the error's class and fields (so it is classified as before: no HTTP
 * answer, retried).
 */
export function nameTlsFailures(
  client: S3Client,
  site: { name?: string; endpoint: string; caFile?: string },
): void {
  if (!site.endpoint.startsWith('https://')) return;
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const e = err as { message?: unknown } | undefined;
        if (
          e &&
          typeof e.message === 'string' &&
          isTlsFailure(e) &&
          !e.message.includes('TLS connection refused')
        ) {
          e.message = describeTlsFailure(site, e);
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'crrNameTlsFailures', priority: 'high' },
  );
}

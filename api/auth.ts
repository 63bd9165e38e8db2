import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';

/** Where the API's bearer token comes from, in order: CRR_API_TOKEN, CRR_API_TOKEN_FILE, `api.tokenFile`. */
export interface TokenSource {
  env: NodeJS.ProcessEnv;
  tokenFile?: string;
}

export class MissingTokenError extends Error {}

/**
 * The current token. A token file is read again when it changes (checked on each request by
 * its modification time), so a rotated token takes effect without a restart.
 */
export function tokenReader(source: TokenSource): () => string {
  const inline = source.env.CRR_API_TOKEN?.trim();
  const file = source.env.CRR_API_TOKEN_FILE ?? source.tokenFile;
  if (inline) return () => inline;
  if (!file) {
    throw new MissingTokenError(
      'the control API needs a bearer token: set CRR_API_TOKEN, or CRR_API_TOKEN_FILE / api.tokenFile to a file holding it',
    );
  }
  let cached: { mtimeMs: number; token: string } | undefined;
  const read = () => {
    const stat = fs.statSync(file);
    if (cached?.mtimeMs !== stat.mtimeMs) {
      const token = fs.readFileSync(file, 'utf8').trim();
      if (token.length < 16)
        throw new MissingTokenError(`the token in ${file} is shorter than 16 characters`);
      cached = { mtimeMs: stat.mtimeMs, token };
    }
    return cached.token;
  };
  read(); // fail at start-up, not at the first request
  return read;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of an `Authorization: Bearer <token>` header (hashing first equalises lengths). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const given = match?.[1] ?? '';
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

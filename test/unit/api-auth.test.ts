import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bearerMatches, MissingTokenError, tokenReader } from '../../api/auth';

describe('bearer token', () => {
  test('only the exact token in a Bearer header matches', () => {
    const token = 'a'.repeat(20);
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`Bearer ${token}x`, token)).toBe(false);
    expect(bearerMatches(token, token)).toBe(false);
    expect(bearerMatches(undefined, token)).toBe(false);
    expect(bearerMatches('Bearer ', token)).toBe(false);
  });

  test('from the environment, or a file that is read again when it changes', () => {
    expect(tokenReader({ env: { CRR_API_TOKEN: 'env-token-0123456789' } })()).toBe('env-token-0123456789');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crr-token-')), 'token');
    fs.writeFileSync(file, 'first-token-0123456789\n');
    const read = tokenReader({ env: {}, tokenFile: file });
    expect(read()).toBe('first-token-0123456789');
    fs.writeFileSync(file, 'second-token-0123456789\n');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    expect(read()).toBe('second-token-0123456789');
  });

  test('no token, or a short one, is refused at start-up with what to set', () => {
    expect(() => tokenReader({ env: {} })).toThrow(MissingTokenError);
    expect(() => tokenReader({ env: {} })).toThrow(/CRR_API_TOKEN/);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crr-token-')), 'token');
    fs.writeFileSync(file, 'short');
    expect(() => tokenReader({ env: { CRR_API_TOKEN_FILE: file } })).toThrow(/shorter than 16/);
  });
});

import os from 'node:os';
import path from 'node:path';

/** Build cache shared by every clone of the project on this machine (CI clones afresh). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CRR_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'crr-stack');
}

export const repoRoot = path.resolve(__dirname, '..');

/** Default runtime folder of the foreground stack (data, logs, generated config). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CRR_STATE_DIR ?? path.join(repoRoot, '.stack');
}

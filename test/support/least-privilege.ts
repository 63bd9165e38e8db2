/**
 * The least-privilege policies of docs/SECURITY.md, read from the document itself and
 * installed on the local MinIO sites with `mc admin policy` for a user of their own, so that
 * tests run the engine with exactly the permissions the document recommends.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { mcBinary } from '../../bench/baselines';
import type { StackInfo } from '../../stack/stack';

const run = promisify(execFile);

/** The JSON policy of docs/SECURITY.md whose statements include `sid`, for these buckets. */
export function documentedPolicy(sid: string, buckets: Record<string, string>): string {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'SECURITY.md'), 'utf8');
  const block = [...doc.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes(`"${sid}"`));
  if (!block) throw new Error(`docs/SECURITY.md has no policy with the statement ${sid}`);
  let policy = block;
  for (const [placeholder, bucket] of Object.entries(buckets))
    policy = policy.replaceAll(placeholder, bucket);
  JSON.parse(policy);
  return policy;
}

/** `mc` with a config folder of its own (removed by `cleanup`). */
export class PolicyInstaller {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crr-lp-policies-'));

  constructor(private readonly stack: StackInfo) {}

  async mc(...args: string[]): Promise<string> {
    const binary = mcBinary();
    if (!binary)
      throw new Error(
        'mc is needed to install the policies: built from the Go module proxy (needs Go), see bench/baselines.ts',
      );
    const { stdout } = await run(binary, ['--no-color', ...args], {
      env: { ...process.env, MC_CONFIG_DIR: path.join(this.dir, 'mc') },
    });
    return stdout;
  }

  /** Creates `user` on `site` with `policy` (JSON) attached as `policyName`. */
  async installUser(
    site: 'source' | 'target',
    policyName: string,
    policy: string,
    user: { accessKeyId: string; secretAccessKey: string },
  ): Promise<void> {
    const s = this.stack.sites[site];
    const alias = `lp${site}`;
    await this.mc('alias', 'set', alias, s.endpoint, s.accessKeyId, s.secretAccessKey);
    const file = path.join(this.dir, `${policyName}.json`);
    fs.writeFileSync(file, policy);
    await this.mc('admin', 'policy', 'create', alias, policyName, file);
    await this.mc('admin', 'user', 'add', alias, user.accessKeyId, user.secretAccessKey);
    await this.mc('admin', 'policy', 'attach', alias, policyName, '--user', user.accessKeyId);
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

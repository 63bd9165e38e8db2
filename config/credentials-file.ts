import fs from 'node:fs';
import path from 'node:path';

/** Creates or updates one profile of an INI credentials file, keeping the other profiles. */
export function upsertProfile(
  file: string,
  profile: string,
  keys: { accessKeyId: string; secretAccessKey: string },
): void {
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : [];
  const kept: string[] = [];
  let inProfile = false;
  for (const line of lines) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) inProfile = header[1]!.trim() === profile;
    if (!inProfile) kept.push(line);
  }
  while (kept.length > 0 && kept[kept.length - 1]!.trim() === '') kept.pop();
  const section = [
    `[${profile}]`,
    `aws_access_key_id = ${keys.accessKeyId}`,
    `aws_secret_access_key = ${keys.secretAccessKey}`,
  ];
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, [...kept, ...(kept.length ? [''] : []), ...section, ''].join('\n'), { mode: 0o600 });
}

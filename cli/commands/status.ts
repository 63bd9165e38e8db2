import type { Client } from '@temporalio/client';
import type { EngineConfig } from '../../config/engine-config';
import { lookupReplication, sitesOfBucket, type SiteReplication } from '../replication-lookup';

export function parseS3Url(url: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/s.exec(url);
  if (!match) throw new Error(`expected s3://bucket/key, got "${url}"`);
  return { bucket: match[1]!, key: match[2]! };
}

export function formatSiteReplication(r: SiteReplication, url: string): string[] {
  if (r.versions.length === 0) {
    return [
      `${r.site}: no replication recorded for ${url} (run ${r.runStatus}; not matched by a rule, or not yet seen by the populator)`,
    ];
  }
  return r.versions.map((v) => {
    const times = [
      `pending ${v.pendingAt}`,
      v.startedAt && `started ${v.startedAt}`,
      v.finishedAt && `finished ${v.finishedAt}`,
    ]
      .filter(Boolean)
      .join(', ');
    const retrying = v.status === 'PROCESSING' && (v.reason || v.nextAttemptAt);
    const extra = retrying
      ? ` retrying: ${v.nextAttemptAt ? `next attempt at ${v.nextAttemptAt}, ` : ''}last error: ${v.reason ?? 'none yet'}`
      : v.reason
        ? ` reason: ${v.reason}`
        : v.detail
          ? ` (${v.detail})`
          : '';
    const replica = v.targetVersionId ? ` replica version ${v.targetVersionId}` : '';
    const attempts = v.status === 'PENDING' ? '' : ` attempt${v.attempts === 1 ? '' : 's'} ${v.attempts}`;
    return `${r.site}: ${v.status} ${v.operation} version ${v.versionId}${attempts}; ${times}${replica}${extra}`;
  });
}

/** `replication status s3://bucket/key [--version-id V]`: each destination's status. */
export async function runStatus(
  client: Client,
  config: EngineConfig,
  url: string,
  versionId: string | undefined,
  out: (line: string) => void,
  json = false,
): Promise<SiteReplication[]> {
  const { bucket, key } = parseS3Url(url);
  const sites = sitesOfBucket(config, bucket);
  if (sites.length === 0) {
    out(`bucket ${bucket} has no replication configuration (see \`replication setup --help\`)`);
    return [];
  }
  const results = await Promise.all(
    sites.map((site) => lookupReplication(client, site, bucket, key, versionId)),
  );
  if (json) out(JSON.stringify(results, null, 2));
  else for (const r of results) formatSiteReplication(r, url).forEach((line) => out(line));
  return results;
}

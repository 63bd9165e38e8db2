import type { Client } from '@temporalio/client';
import { carriedSourceSite, type EngineConfig } from '../../config/engine-config';
import { lookupReplication, sitesOfBucket, type SiteReplication } from '../../operations/replication-lookup';
import { describeSiteState, siteStates } from '../../operations/site-control';

/** `s3://bucket` or `s3://bucket/key`: a bucket, or one object of it. */
export function parseS3Target(url: string): { bucket: string; key?: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/s.exec(url);
  if (!match) throw new Error(`expected s3://bucket or s3://bucket/key, got "${url}"`);
  return match[2] ? { bucket: match[1]!, key: match[2] } : { bucket: match[1]! };
}

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
  // A run ended from the Temporal UI or CLI copies nothing more: say so before its versions.
  const ended =
    r.runStatus === 'TERMINATED' || r.runStatus === 'CANCELLED' || r.runStatus === 'TIMED_OUT'
      ? [
          `${r.site}: the replication run of ${url} was ${r.runStatus.toLowerCase().replace('_', ' ')} (from the Temporal UI or CLI): versions not COMPLETED below are not being replicated; a new version of the key starts a new run`,
        ]
      : [];
  return [
    ...ended,
    ...r.versions.map((v) => {
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
      const history =
        v.failures && (v.status !== 'FAILED' || v.failures > 1)
          ? `; failed ${v.failures} time${v.failures === 1 ? '' : 's'} since ${v.firstFailedAt}${v.status !== 'FAILED' && v.lastFailure ? `, last: ${v.lastFailure}` : ''}`
          : '';
      const attempts = v.status === 'PENDING' ? '' : ` attempt${v.attempts === 1 ? '' : 's'} ${v.attempts}`;
      return `${r.site}: ${v.status} ${v.operation} version ${v.versionId}${attempts}; ${times}${replica}${extra}${history}`;
    }),
  ];
}

/** `replication status s3://bucket/key [--version-id V]`: each destination's status. */
export async function runStatus(
  client: Client,
  config: EngineConfig,
  url: string,
  versionId: string | undefined,
  out: (line: string) => void,
  json = false,
  /** The bucket's site, when it is not the config's `sourceSite` (two-way, many-to-one). */
  sourceSite?: string,
): Promise<SiteReplication[]> {
  const { bucket, key } = parseS3Url(url);
  const source = carriedSourceSite(config, sourceSite);
  const sites = sitesOfBucket(config, bucket, source);
  if (sites.length === 0) {
    out(`bucket ${bucket} has no replication configuration (see \`replication setup --help\`)`);
    return [];
  }
  const [results, control] = await Promise.all([
    Promise.all(sites.map((site) => lookupReplication(client, site, bucket, key, versionId, 20, source))),
    siteStates(client, config.temporal.taskQueuePrefix, sites),
  ]);
  if (json) {
    out(
      JSON.stringify(
        results.map((r, i) => ({ ...r, site: control[i] })),
        null,
        2,
      ),
    );
  } else {
    for (const [i, r] of results.entries()) {
      // A paused site's PENDING versions wait for `resume`: say so before them.
      if (control[i]!.paused) out(describeSiteState(control[i]!));
      formatSiteReplication(r, url).forEach((line) => out(line));
    }
  }
  return results;
}

import type { VersionStatus } from '../shared/replication-task';

/** Rows the Temporal UI's "current details" shows: FAILED ones first, then the most recent. */
const MAX_ROWS = 15;

const cell = (s: string | number | undefined) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

/**
 * A key's replication as the Temporal Web UI's "current details" (markdown): what is waiting,
 * what failed and why, and the command that retries it, so an operator reads the page without
 * opening events.
 */
export function keyDetails(
  object: { site: string; bucket: string; key: string },
  versions: readonly VersionStatus[],
  queued: number,
): string {
  const count = (status: VersionStatus['status']) => versions.filter((v) => v.status === status).length;
  const failed = versions.filter((v) => v.status === 'FAILED');
  const recent = versions.filter((v) => v.status !== 'FAILED').slice(-Math.max(0, MAX_ROWS - failed.length));
  const rows = [...failed.slice(-MAX_ROWS), ...recent];
  const url = `s3://${object.bucket}/${object.key}`;
  const lines = [
    `**${url} → ${object.site}**: ${count('COMPLETED')} completed, ${count('PROCESSING')} in progress, ${queued} waiting, ${failed.length} failed`,
    '',
    '| version | operation | status | attempts | detail or reason |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      (v) =>
        `| ${cell(v.versionId)} | ${cell(v.operation)} | ${v.status} | ${v.attempts} | ${cell(v.status === 'FAILED' ? v.reason : v.detail)} |`,
    ),
  ];
  if (failed.length > 0) {
    lines.push(
      '',
      `Retry: \`replication retry ${url} --site ${object.site}\` (or signal \`retryFailed\` from this page).`,
    );
  }
  return lines.join('\n');
}

import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { CRR_STATUS } from '../../shared/search-attributes';
import { replicationWorkflowId } from '../../shared/workflow-id';
import { ReplicationHarness } from '../support/replication-harness';
import { s3ClientFor, testStack, uniqueBucket } from '../support/stack';

/**
 * What an operator does in the Temporal Web UI (docs/OPERATIONS.md, "Find why an object
 * failed"), in headless Chromium against the test stack's dev server: list the runs with
 * `CrrStatus = 'FAILED'`, open the failed key's run and read its reason, failure code first,
 * from the run's "Current Details" (workflows/key-details.ts), next to its static summary.
 */

const stack = testStack();
const source = s3ClientFor(stack.sites.source);
const SCREENSHOT = path.resolve(__dirname, '../../test-artifacts/temporal-ui-failed-replication.png');
const UI_TIMEOUT_MS = 30_000;

/** Debian's chromium (never a downloaded browser): $CRR_CHROMIUM, /usr/bin/chromium, or on PATH. */
function findChromium(): { path?: string; problem?: string } {
  const help =
    'The Temporal Web UI test drives a system Chromium with playwright-core: install it with ' +
    '`apt-get install chromium` (Debian; `bash .ci/run` does it when it runs as root), or set ' +
    'CRR_CHROMIUM to the path of a chromium or chrome executable.';
  const explicit = process.env.CRR_CHROMIUM;
  if (explicit) {
    return fs.existsSync(explicit)
      ? { path: explicit }
      : { problem: `CRR_CHROMIUM=${explicit} does not exist. ${help}` };
  }
  const candidates = [
    '/usr/bin/chromium',
    ...(process.env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .flatMap((dir) => [path.join(dir, 'chromium'), path.join(dir, 'chromium-browser')]),
  ];
  const found = candidates.find((candidate) => {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return found ? { path: found } : { problem: `No Chromium found (/usr/bin/chromium, PATH). ${help}` };
}

const MISSING_BUCKET = uniqueBucket('webui-missing');
const harness = new ReplicationHarness(
  stack,
  'webui',
  [{ site: 'target', bucket: uniqueBucket('webui-dst') }],
  { maxAttempts: 2 },
  (raw) => {
    // A destination bucket nobody created: its versions fail at once as TARGET_BUCKET_MISSING.
    raw.replication[harness.sourceBucket]!.Rules.push({
      ID: 'to-missing-bucket',
      Priority: 98,
      Status: 'Enabled',
      Filter: { Prefix: 'missing-bucket/' },
      Destination: { Bucket: `arn:aws:s3:::${MISSING_BUCKET}`, StorageClass: 'target' },
      DeleteMarkerReplication: { Status: 'Disabled' },
    });
  },
);

let executablePath: string;
let browser: Browser | undefined;

beforeAll(async () => {
  const found = findChromium();
  if (!found.path) throw new Error(found.problem);
  executablePath = found.path;
  if (!stack.temporal.uiUrl) throw new Error('The test stack has no Temporal Web UI (stack.temporal.uiUrl)');
  await harness.start();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await harness.stop();
}, 60_000);

/** The UI panel titled `title` (innermost element holding both the title and its rendered markdown). */
function markdownPanel(page: Page, title: string): FrameLocator {
  return page
    .locator('div')
    .filter({ has: page.getByText(title, { exact: true }) })
    .filter({ has: page.locator('iframe') })
    .last()
    .frameLocator('iframe');
}

describe('Temporal Web UI', () => {
  test("shows a failed replication's reason and failure code in the run's current details", async () => {
    const key = 'missing-bucket/web-ui/cat.jpg';
    const put = await source.send(
      new PutObjectCommand({ Bucket: harness.sourceBucket, Key: key, Body: 'meow' }),
    );
    const failed = await harness.waitForVersion('target', key, put.VersionId!);
    expect(failed.status).toBe('FAILED');
    expect(failed.reason).toMatch(/^\[TARGET_BUCKET_MISSING\] /);
    const workflowId = replicationWorkflowId('target', harness.sourceBucket, key);
    const handle = harness.temporal.workflow.getHandle(workflowId);
    expect((await handle.describe()).typedSearchAttributes.get(CRR_STATUS)).toBe('FAILED');

    browser = await chromium.launch({ executablePath });
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    try {
      // The workflows list, filtered by the visibility query an operator types.
      const ui = stack.temporal.uiUrl!;
      const namespace = encodeURIComponent(stack.temporal.namespace);
      const query = encodeURIComponent(`CrrStatus = 'FAILED'`);
      const runLink = page.getByRole('link', { name: workflowId, exact: true });
      const listDeadline = Date.now() + 60_000;
      await page.goto(`${ui}/namespaces/${namespace}/workflows?query=${query}`);
      // Visibility may lag the run by a moment: reload until the row is there.
      const listed = () =>
        runLink.waitFor({ state: 'visible', timeout: 10_000 }).then(
          () => true,
          () => false,
        );
      while (!(await listed())) {
        if (Date.now() > listDeadline) {
          throw new Error(`${workflowId} not listed by CrrStatus = 'FAILED' in the Temporal UI`);
        }
        await page.reload();
      }
      // The filter the list shows is the one asked for.
      const filter = page.getByRole('button', { name: /^CrrStatus\s*=\s*"FAILED"$/ });
      expect(await filter.innerText()).toMatch(/CrrStatus\s*=\s*"FAILED"/);

      // The run's page, its "User Metadata" tab: Summary (static) and Current Details (a query).
      await runLink.click();
      await page.waitForURL(/\/namespaces\/[^/]+\/workflows\/[^/]+\/[^/]+\//);
      await page.getByRole('tab', { name: 'User Metadata' }).click();
      await page.getByText('Current Details', { exact: true }).waitFor();
      const summary = markdownPanel(page, 'Summary');
      const details = markdownPanel(page, 'Current Details');
      await details.getByText('[TARGET_BUCKET_MISSING]').first().waitFor();
      await summary.locator('body').getByText(`s3://${harness.sourceBucket}/${key}`).first().waitFor();

      const summaryText = await summary.locator('body').innerText();
      const detailsText = await details.locator('body').innerText();
      expect(summaryText.trim()).toBe(`s3://${harness.sourceBucket}/${key} → target`);
      expect(detailsText).toContain(`s3://${harness.sourceBucket}/${key} → target: 0 completed`);
      expect(detailsText).toContain('1 failed');
      // The table row of the failed version: id, operation, FAILED, attempts, and the reason with
      // its code first, the step, the object and the missing bucket.
      const row = details.locator('tr').filter({ hasText: put.VersionId! });
      const cells = (await row.locator('td').allInnerTexts()).map((cell) => cell.trim());
      expect(cells).toEqual([put.VersionId, 'put', 'FAILED', String(failed.attempts), failed.reason]);
      const reason = cells[4]!;
      expect(reason).toMatch(/^\[TARGET_BUCKET_MISSING\] /);
      expect(reason).toContain(`s3://${harness.sourceBucket}/${key} version ${put.VersionId} to site target`);
      expect(reason).toContain(`(s3://${MISSING_BUCKET})`);
      expect(detailsText).toContain(`replication retry s3://${harness.sourceBucket}/${key} --site target`);
    } finally {
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true }).then(
        () => console.log(`Temporal Web UI screenshot: ${SCREENSHOT}`),
        (err: unknown) => console.log(`Temporal Web UI screenshot failed: ${String(err)}`),
      );
    }
  }, 180_000);
});

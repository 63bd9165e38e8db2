import fs from 'node:fs';
import { openApiDocument, OPENAPI_FILE } from '../../api/openapi';

test('docs/openapi.json is the document the API serves (run `npm run -s openapi` after changing a route)', async () => {
  const served = await openApiDocument();
  expect(JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8'))).toEqual(served);
  const paths = Object.keys((served as { paths: Record<string, unknown> }).paths).sort();
  expect(paths).toEqual([
    '/_/crr/backfill',
    '/_/crr/backfill/cancel',
    '/_/crr/dismiss',
    '/_/crr/failed',
    '/_/crr/object',
    '/_/crr/pause/{site}',
    '/_/crr/resume/{site}',
    '/_/crr/retry',
    '/_/crr/sites',
    '/_/crr/sites/{site}',
    '/_/health/live',
    '/_/health/ready',
    '/metrics',
  ]);
});

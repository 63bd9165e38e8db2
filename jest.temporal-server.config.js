// `npm run test:temporal-server`: the test stack with CRR_TEMPORAL=server (the Temporal server
// on PostgreSQL, stack/temporal-server.ts) instead of the CLI dev server, the option's own
// check, and end-to-end suites that lean on Temporal: ordering, the CLI's visibility queries
// (CrrStatus = 'FAILED'), status without a worker, a Temporal crash and restart, and objects
// with odd keys (a 1024-byte key: workflow ids and CrrKey within the schema's 255 characters).
// The same setup, teardown and transform as `npm test`: only which files run differs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: [
    '**/test/temporal-server/*.check.ts',
    '**/test/e2e/replication-ordering.test.ts',
    '**/test/e2e/replication-objects.test.ts',
    '**/test/e2e/cli-commands.test.ts',
    '**/test/e2e/status-without-worker.test.ts',
    '**/test/e2e/temporal-outage.test.ts',
  ],
};

// The fault suite (`npm run test:faults`): kill -9 and restarts of the engine's processes
// and servers, journal abuse and races, each ended by a per-key check of both buckets.
// Every file starts its own real stack; scenarios run one at a time.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.fault.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
  globalSetup: '<rootDir>/test/faults/global-setup.ts',
  globalTeardown: '<rootDir>/test/faults/global-teardown.ts',
  testTimeout: 900000,
  // Temporal's native runtime keeps handles open after the last connection closed.
  forceExit: true,
};

// Integration and end-to-end tests share one real stack (Temporal, Kafka, two MinIO sites)
// started by test/global-setup.ts; unit-only runs (CRR_UNIT_ONLY=1) skip it.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 120000,
  // Temporal's native runtime keeps handles open after the last worker stopped.
  forceExit: true,
};

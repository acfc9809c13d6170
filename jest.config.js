/**
 * The suites in three groups (Jest projects), so a reader sees them apart;
 * `npm test` runs all three, `npx jest --selectProjects unit` one of them.
 * Global setup (a redis-server, a PostgreSQL database) runs once per run,
 * whichever projects run.
 *
 * - unit: one process, in-process store and coordinator, no service;
 * - integration: real Redis, PostgreSQL, Chromium, or the built package;
 * - multi-process: several Node processes (workers) sharing Redis, faults
 *   injected between them and the servers.
 */

/** What every project shares. */
const shared = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true }],
  },
};

/** `text` as a pattern that matches exactly it. */
const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `test/<name>.test.ts` for each name. */
const files = (...names) => names.map((name) => `<rootDir>/test/${name}.test.ts`);

const integration = files(
  'admin',
  'admin-page',
  'concurrent-commits',
  'coordinator-contract',
  'demo-cookieless',
  'migration',
  'package',
  'redis-coordinator',
  'redis-reaper',
  'serial-access',
  'shared-standing',
  'store-contract',
  'subsessions',
);

const multiProcess = files(
  'caps-redis',
  'client-abort',
  'concurrent-requests-cluster',
  'faults',
  'faults-cluster',
  'kill-cluster',
  'reaper-cluster',
  'subsession-cluster',
);

/** @type {import('jest').Config} */
module.exports = {
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      // Every suite not listed below: a new one is a unit suite until listed.
      testMatch: ['<rootDir>/test/*.test.ts'],
      testPathIgnorePatterns: [...integration, ...multiProcess].map(escapeRegExp),
    },
    { ...shared, displayName: 'integration', testMatch: integration },
    { ...shared, displayName: 'multi-process', testMatch: multiProcess },
  ],
};

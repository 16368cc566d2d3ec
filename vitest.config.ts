import { defineConfig } from 'vitest/config';

/**
 * Two projects: everything on SQLite, and the HTTP-level suites again on PostgreSQL (the store
 * behaviour suite runs on both stores inside the first project already).
 */
export default defineConfig({
  // `import ... from 'sigmalite'` in the docs' examples means this package's sources.
  resolve: { alias: [{ find: /^sigmalite$/, replacement: './src/index.ts' }] },
  test: {
    pool: 'forks',
    globalSetup: ['test/support/global-build.ts'],
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'docs/examples/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: [
            'test/http/**/*.test.ts',
            'test/conformance/**/*.test.ts',
            'test/robustness/**/*.test.ts',
            'test/lifecycle/**/*.test.ts',
            'test/control/**/*.test.ts',
            'test/networking/**/*.test.ts',
            'test/sharing/**/*.test.ts',
            'test/account/**/*.test.ts',
            'test/library/**/*.test.ts',
            'test/seed/**/*.test.ts',
            'test/console/bridges.test.ts',
          ],
          env: { SIGMALITE_TEST_STORE: 'postgres' },
        },
      },
    ],
  },
});

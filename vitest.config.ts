import { defineConfig } from 'vitest/config';

/**
 * Two projects: everything on SQLite, and the HTTP-level suites again on PostgreSQL (the store
 * behaviour suite runs on both stores inside the first project already).
 */
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: { name: 'sqlite', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
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
          ],
          env: { SIGMALITE_TEST_STORE: 'postgres' },
        },
      },
    ],
  },
});

import { defineConfig } from 'vitest/config';

/** Suites that need the real test cluster (SLURM + OpenSSH on loopback); everything else is a unit suite. */
const CLUSTER_SUITES = [
  'test/reconcile/**/*.test.ts',
  'test/e2e/**/*.test.ts',
  'test/cli/doctor.test.ts',
  'test/cli/images-gc.test.ts',
  'test/cli/pull.test.ts',
  'test/cli/shell.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 300_000,
    fileParallelism: true,
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'test-results/junit.xml' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: CLUSTER_SUITES } },
      // Integration suites share one test cluster, brought up once for the run.
      { extends: true, test: { name: 'cluster', include: CLUSTER_SUITES, globalSetup: ['test/setup/cluster.ts'] } },
    ],
  },
});

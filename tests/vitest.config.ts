import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../config/vitest.base.ts';

// Cross-service suites start sandboxes, Redis servers and worker processes, and some still judge
// timing (a 429's window, feed reads in a while): one file at a time keeps the 2-core CI machine
// from failing them against each other.
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['architecture/**/*.test.ts', 'engine/**/*.test.ts', 'e2e/**/*.test.ts'],
      fileParallelism: false,
      testTimeout: 180_000,
      hookTimeout: 120_000,
    },
  }),
);

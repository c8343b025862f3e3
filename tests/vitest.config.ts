import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../config/vitest.base.ts';

// Cross-service suites start sandboxes, Redis servers and worker processes: one file at a time
// keeps the 2-core CI machine from timing them out against each other.
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

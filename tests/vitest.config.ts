import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../config/vitest.base.ts';

// Cross-service suites start sandboxes, Redis servers and worker processes and spend most of their
// time waiting on them: two files at a time use the 2-core CI machine without overloading it.
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['architecture/**/*.test.ts', 'engine/**/*.test.ts', 'e2e/**/*.test.ts'],
      maxWorkers: 2,
      testTimeout: 180_000,
      hookTimeout: 120_000,
    },
  }),
);

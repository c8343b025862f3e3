import { defineConfig } from 'vitest/config';
import base from '../config/vitest.base.ts';

// The bench harness's own smoke test (bench/*.test.ts), apart from `pnpm test` as the benchmarks
// are; its own include replaces the base's rather than adding to it, as mergeConfig would.
export default defineConfig({
  test: {
    ...base.test,
    include: ['bench/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

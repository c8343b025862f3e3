import { defineConfig } from 'vitest/config';
import base from '../config/vitest.base.ts';

// The container image's smoke test (scripts/image/smoke.sh), only after the image is built; its
// own include replaces the base's rather than adding to it, as mergeConfig would.
export default defineConfig({
  test: {
    ...base.test,
    include: ['image/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 300_000,
  },
});

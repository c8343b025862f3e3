// Shared vitest settings. The CI machine has 2 cores and turbo runs packages' suites side by
// side, so tests that start processes or load ESLint get generous time limits: a limit here is a
// hang detector, not a speed assertion (speed is measured in tests/bench). The setup file fixes
// fast-check's seed (see it for FC_SEED). expect.poll waits for a state, so its limit is a hang
// detector too: vitest's default of one second fails a browser check on a loaded CI machine.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    expect: { poll: { timeout: 20_000 } },
    include: ['src/**/*.test.ts', 'tests/**/*.test.ts', 'architecture/**/*.test.ts'],
    setupFiles: [fileURLToPath(new URL('./vitest.setup.ts', import.meta.url))],
  },
});

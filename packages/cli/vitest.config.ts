import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../config/vitest.base.ts';

// Many of these tests run the CLI as a child process several times over; while CI runs every
// package's tests at once on 2 cores, one such test took 64 s. The limit is a hang detector.
export default mergeConfig(base, defineConfig({ test: { testTimeout: 180_000 } }));

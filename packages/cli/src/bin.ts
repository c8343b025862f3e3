#!/usr/bin/env node
import { enableCompileCache } from 'node:module';

// Caches compiled code between runs (in the OS temp dir) so the CLI starts faster. The rest is
// imported afterwards, dynamically: static imports would be loaded before this line runs.
enableCompileCache?.();

const { readCliConfig } = await import('./config.ts');
const { processIo } = await import('./io.ts');
const { run } = await import('./program.ts');

process.exitCode = await run(process.argv.slice(2), processIo(readCliConfig()));

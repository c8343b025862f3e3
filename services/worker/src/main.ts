/**
 * The worker process's entry point (run.ts is the process): it turns on Node's compile cache
 * first, then loads the rest.
 */
import { enableCompileCache } from 'node:module';

// Compiled code is cached between starts (in the OS temp dir): the worker starts faster. Static
// imports would be loaded before this line runs, hence the dynamic one. Run from the TypeScript
// sources, this file itself is stripped of its types before the line runs, which loads Node's
// type-stripping compiler (about 18 MB of RSS for the life of the process): `pnpm worker` sets
// NODE_COMPILE_CACHE, so that this file too is found in a cache and the compiler never loads.
enableCompileCache?.();
await import('./run.ts');

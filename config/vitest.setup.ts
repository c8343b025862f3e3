// Property tests (fast-check) run with one fixed seed, printed, so that a run can be repeated
// exactly and a pass is not luck; FC_SEED=<integer> explores other inputs (FC_NUM_RUNS, read by
// the tests, more of them). Packages that do not depend on fast-check skip this.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const DEFAULT_SEED = 1919;

const manifest = path.join(process.cwd(), 'package.json');
const deps = existsSync(manifest)
  ? (JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, Record<string, string> | undefined>)
  : {};
if (deps['dependencies']?.['fast-check'] ?? deps['devDependencies']?.['fast-check']) {
  const { default: fc } = await import('fast-check');
  const given = process.env['FC_SEED'];
  const seed = given === undefined || given === '' ? DEFAULT_SEED : Number(given);
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, not "${given}"`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
  console.log(`fast-check seed: ${seed} (set FC_SEED to change)`);
}

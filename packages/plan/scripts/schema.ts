// Writes (or, with "check", verifies) config/schema/plan.schema.json from the TypeBox schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { planJsonSchemaText } from '../src/json-schema.ts';

const target = fileURLToPath(new URL('../../../config/schema/plan.schema.json', import.meta.url));
const wanted = planJsonSchemaText();
const mode = process.argv[2] ?? 'write';

if (mode === 'check') {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // reported below as stale
  }
  if (current !== wanted) {
    console.error(
      'config/schema/plan.schema.json is stale: it differs from the schema in packages/plan/src/schema.ts.\n' +
        'Run `pnpm schema` and commit the result.',
    );
    process.exit(1);
  }
  console.log('config/schema/plan.schema.json is up to date');
} else {
  writeFileSync(target, wanted);
  console.log('wrote config/schema/plan.schema.json');
}

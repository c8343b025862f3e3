import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { planJsonSchemaText } from '../src/index.ts';
import { referenceMissing, referencePlanPath, repoRoot } from './helpers.ts';

const schemaFile = path.join(repoRoot, 'config/schema/plan.schema.json');
const plans = readdirSync(path.join(repoRoot, 'config/plans'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => path.join(repoRoot, 'config/plans', f));

describe('the JSON Schema for editors', () => {
  it('is the one generated from the TypeBox schema (run `pnpm schema` when this fails)', () => {
    expect(readFileSync(schemaFile, 'utf8')).toBe(planJsonSchemaText());
  });

  // An editor sees only the JSON file: it must accept every valid plan on its own.
  const validate = new Ajv({ allErrors: true, strict: false }).compile(
    JSON.parse(readFileSync(schemaFile, 'utf8')) as object,
  );
  it.each([...(referenceMissing ? [] : [referencePlanPath]), ...plans])('accepts %s', (file) => {
    const ok = validate(parse(readFileSync(file, 'utf8')));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it.skipIf(referenceMissing)(
    `flags an unknown field${referenceMissing ? ` (${referenceMissing})` : ''}`,
    () => {
      const doc = parse(readFileSync(referencePlanPath, 'utf8')) as Record<string, unknown>;
      expect(validate({ ...doc, farewell: true })).toBe(false);
    },
  );
});

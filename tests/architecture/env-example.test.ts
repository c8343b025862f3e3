// config/.env.example is the one place an operator learns the settings: every variable a config
// module reads, and every credential the example plans name, must be documented there.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const example = readFileSync(path.join(root, 'config/.env.example'), 'utf8');
const documented = new Set([...example.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));

const CONFIG_MODULES = [
  'services/api/src/config.ts',
  'services/worker/src/config.ts',
  'services/demo/src/config.ts',
  'packages/cli/src/config.ts',
  'packages/core/src/config.ts',
];

function variablesRead(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const names = [
    ...text.matchAll(/\b(?:r|this|db)\.(?:string|int|oneOf|list|url|fileContents)\(\s*'([A-Z][A-Z0-9_]+)'/g),
    ...text.matchAll(/\benv\['([A-Z][A-Z0-9_]+)'\]/g),
  ].map((m) => m[1] ?? '');
  return [...new Set(names)];
}

describe('config/.env.example', () => {
  it('documents every variable the config modules read', () => {
    const read = CONFIG_MODULES.flatMap(variablesRead);
    expect(read.length).toBeGreaterThan(25);
    // NODE_ENV is the platform's, TERM the terminal's: not sunset settings.
    const missing = read.filter(
      (v) => !documented.has(v) && v !== 'NODE_ENV' && v !== 'TERM' && v !== 'USER' && v !== 'LOGNAME',
    );
    expect(missing).toEqual([]);
  });

  it('names every credential variable of the example plans', () => {
    const dir = path.join(root, 'config/plans');
    const refs = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) =>
        [...readFileSync(path.join(dir, f), 'utf8').matchAll(/env:([A-Z][A-Z0-9_]+)/g)].map(
          (m) => m[1] ?? '',
        ),
      );
    expect(refs.length).toBeGreaterThan(5);
    expect(refs.filter((v) => !documented.has(v))).toEqual([]);
  });
});

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

// Records every module the import resolves, in a fresh process so nothing vitest loaded counts.
const probe = `
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
await import(process.argv[1]);
process.stdout.write(JSON.stringify([...seen]));
`;

function modulesLoadedBy(file: string): string[] {
  const out = execFileSync(
    process.execPath,
    ['--conditions=development', '--no-warnings', '--input-type=module', '-e', probe, `${root}${file}`],
    { cwd: root, encoding: 'utf8' },
  );
  return (JSON.parse(out) as string[]).map((url) =>
    url.startsWith('file:') ? fileURLToPath(url).slice(root.length) : url,
  );
}

describe("the CLI's plan commands stay on the engine's outbox side", () => {
  // `sunset plan apply` starts from the program with every command registered.
  it.each(['packages/cli/src/program.ts', 'packages/cli/src/commands/plan.ts'])(
    '%s loads no connector and no worker code',
    (file) => {
      const loaded = modulesLoadedBy(file);
      expect(loaded).toContain('packages/engine/src/outbox/index.ts');
      expect(loaded.filter((m) => m.startsWith('packages/networks/'))).toEqual([]);
      expect(loaded.filter((m) => m.startsWith('packages/engine/src/worker/'))).toEqual([]);
    },
  );
});

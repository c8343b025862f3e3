import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
// The example files exist only as text, outside every TypeScript project: the type-aware rules,
// which need one, are off here (they are not module boundaries).
const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });

/** The rule ids ESLint reports for `code` as if it were written at `file`. */
async function violations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${file}` });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

describe('module boundaries (ARCHITECTURE.md), enforced by lint', () => {
  it('forbids deep imports into another package', async () => {
    const v = await violations(
      'packages/cli/src/example.ts',
      "import { x } from '@sunset/plan/src/validate.ts';\nexport { x };\n",
    );
    expect(v).toContainEqual(expect.stringMatching(/^no-restricted-imports: .*entry point/));
  });

  it('forbids relative imports into another package', async () => {
    const v = await violations(
      'packages/cli/src/example.ts',
      "import { x } from '../../plan/src/validate.ts';\nexport { x };\n",
    );
    expect(v).toContainEqual(
      expect.stringMatching(/^(no-restricted-imports|import-x\/no-relative-packages): /),
    );
  });

  it('forbids packages from importing services', async () => {
    const v = await violations(
      'packages/plan/src/example.ts',
      "import { x } from '@sunset/worker';\nexport { x };\n",
    );
    expect(v).toContainEqual(
      expect.stringMatching(/^no-restricted-imports: .*Packages never import services/),
    );
  });

  it('lets only the worker and the CLI import the network connectors', async () => {
    const code = "import { x } from '@sunset/networks';\nexport { x };\n";
    expect(await violations('services/api/src/example.ts', code)).toContainEqual(
      expect.stringMatching(/^no-restricted-imports: .*Only the worker/),
    );
    expect(await violations('packages/plan/src/example.ts', code)).toContainEqual(
      expect.stringMatching(/^no-restricted-imports: .*Only the worker/),
    );
    expect(await violations('services/worker/src/example.ts', code)).toEqual([]);
    expect(await violations('packages/engine/src/example.ts', code)).toEqual([]);
    expect(await violations('packages/store/src/example.ts', code)).toContainEqual(
      expect.stringMatching(/^no-restricted-imports: .*Only the worker/),
    );
  });

  it('keeps the API on the producer side of the engine, which never reaches a network', async () => {
    const whole = "import { x } from '@sunset/engine';\nexport { x };\n";
    const outbox = "import { x } from '@sunset/engine/outbox';\nexport { x };\n";
    expect(await violations('services/api/src/example.ts', whole)).toContainEqual(
      expect.stringMatching(/^no-restricted-imports: .*engine\/outbox/),
    );
    expect(await violations('services/api/src/example.ts', outbox)).toEqual([]);
    expect(
      await violations(
        'packages/engine/src/outbox/posts.ts',
        "import { x } from '@sunset/networks';\nexport { x };\n",
      ),
    ).toContainEqual(expect.stringMatching(/^no-restricted-imports: .*Only the worker/));
  });

  it("keeps the engine's outbox side (any file in outbox/, new ones too) off its worker side", async () => {
    const toWorker = "import { x } from '../worker/publish.ts';\nexport { x };\n";
    expect(await violations('packages/engine/src/outbox/new-file.ts', toWorker)).toContainEqual(
      expect.stringMatching(/^no-restricted-imports: .*worker side/),
    );
    expect(
      await violations(
        'packages/engine/src/outbox/new-file.ts',
        "import { x } from '../index.ts';\nexport { x };\n",
      ),
    ).toContainEqual(expect.stringMatching(/^no-restricted-imports: .*worker side/));
    expect(
      await violations(
        'packages/engine/src/outbox/new-file.ts',
        "import { x } from '@sunset/networks';\nexport { x };\n",
      ),
    ).toContainEqual(expect.stringMatching(/^no-restricted-imports: .*Only the worker/));
    expect(
      await violations(
        'packages/engine/src/worker/new-file.ts',
        "import { x } from '../outbox/policy.ts';\nimport { y } from '@sunset/networks';\nexport { x, y };\n",
      ),
    ).toEqual([]);
  });

  it('lets only a config module read process.env', async () => {
    const code = "export const port = process.env['PORT'];\n";
    expect(await violations('packages/plan/src/example.ts', code)).toContainEqual(
      expect.stringMatching(/^no-restricted-properties: /),
    );
    expect(await violations('services/api/src/routes.ts', code)).toContainEqual(
      expect.stringMatching(/^no-restricted-properties: /),
    );
    expect(await violations('services/api/src/config.ts', code)).toEqual([]);
    expect(await violations('packages/cli/src/config.ts', code)).toEqual([]);
  });

  it('accepts an import through a package entry point', async () => {
    const v = await violations(
      'packages/cli/src/example.ts',
      "import { compile } from '@sunset/plan';\nexport { compile };\n",
    );
    expect(v).toEqual([]);
  });
});

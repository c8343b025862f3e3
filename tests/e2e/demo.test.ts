// The README's first command, `pnpm demo`, run as a user runs it: it must finish the whole exit
// (every step done, the audit chain intact) and stop by itself when not on a terminal.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pnpm demo', () => {
  it('runs the whole exit and says every step is done', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=development',
        '--no-warnings=ExperimentalWarning',
        'services/demo/src/main.ts',
        '--exit',
      ],
      {
        cwd: root,
        env: {
          PATH: process.env['PATH'] ?? '',
          CI: 'true',
          NO_COLOR: '1',
          SUNSET_API_PORT: '0',
          SUNSET_DEMO_DIR: dir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/✓ every step of the exit is done/);
    expect(out).toMatch(/audit verify: intact, \d+ entries/);
    expect(out).toMatch(/X\s+skipped — X takes crisis posts only after the sunset/);
    expect(out).toMatch(/post au-revoir: published 2\/2/);
    expect(out).toMatch(/generated flat-ECG banner: [\d,]+ bytes/);
    // Piped output (CI, a log): no token, but how to make one.
    expect(out).not.toMatch(/sunset_[A-Za-z0-9_-]{20,}/);
    expect(out).toMatch(
      /no token printed \(the output is not a terminal\); to sign in, make one: DATABASE_URL=\S+sunset\.db pnpm sunset token create --org ville-de-tours --name <name> --role admin --person <you>/,
    );
    const took = Number(/the demo took (\d+) s/.exec(out)?.[1]);
    expect(took).toBeLessThan(180);
  }, 240_000);
});

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** The real `sunset` command in a child process, run from the repository root as a user would. */
function sunset(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=development', '--no-warnings=ExperimentalWarning', bin, ...args],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '', FORCE_COLOR: undefined },
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'sunset-assets-'));

describe('sunset assets render', () => {
  it('writes the generated images of region-bretagne.yaml, one line each with size and bytes against the limit', async () => {
    const out = path.join(tempDir(), 'images');
    const r = sunset('assets', 'render', 'config/plans/region-bretagne.yaml', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['x-avatar.png', 'x-banner.png']);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^✓ \S+x-banner\.png {2}X banner {2}1500×500 {2}[\d,]+ \/ 5,000,000 bytes {2}\(\d+% of the limit, image\/png\)$/,
    );
    expect(lines[1]).toMatch(/^✓ \S+x-avatar\.png {2}X avatar {2}400×400 {2}[\d,]+ \/ 2,000,000 bytes/);
    const banner = readFileSync(path.join(out, 'x-banner.png'));
    const meta = await sharp(banner).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1500, 500]);
    expect(lines[0]).toContain(new Intl.NumberFormat('en-GB').format(banner.byteLength));
  });

  it('writes the same bytes on a second run', () => {
    const [a, b] = [tempDir(), tempDir()];
    expect(sunset('assets', 'render', 'config/plans/region-bretagne.yaml', '--out', a).status).toBe(0);
    expect(sunset('assets', 'render', 'config/plans/region-bretagne.yaml', '--out', b).status).toBe(0);
    for (const f of ['x-banner.png', 'x-avatar.png'])
      expect(readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f)))).toBe(true);
  });

  it('says so, writes nothing and exits 0 when the plan generates no image', () => {
    const out = path.join(tempDir(), 'none');
    const r = sunset('assets', 'render', 'config/plans/ville-de-paris.yaml', '--out', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('config/plans/ville-de-paris.yaml generates no image');
    expect(existsSync(out)).toBe(false);
  });

  it('prints the problems and exits 1 when the plan is invalid', () => {
    const dir = tempDir();
    const file = path.join(dir, 'plan.yaml');
    writeFileSync(file, 'version: 1\norganisation:\n  id: Not An Id\n');
    const r = sunset('assets', 'render', file, '--out', path.join(dir, 'out'));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/plan\.yaml:\d+:\d+ {2}/);
    expect(r.stdout).toContain('is not valid: no image rendered');
  });

  it('exits 2 without --out, and explains itself in --help', () => {
    const r = sunset('assets', 'render', 'config/plans/region-bretagne.yaml');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("required option '-o, --out <dir>' not specified");
    const help = sunset('assets', 'render', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('<network>-<slot>.png');
    expect(help.stdout).toContain('Exit status: 0');
  });
});

describe('sunset plan preview', () => {
  it('lists the generated images with their size', () => {
    const r = sunset('plan', 'preview', 'config/plans/region-bretagne.yaml');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/banner {4}generated flat-ECG banner .* → x-banner, 1500×500 px/);
    expect(r.stdout).toMatch(/avatar {4}generated flat-ECG avatar {2}→ x-avatar, 400×400 px/);
  });
});

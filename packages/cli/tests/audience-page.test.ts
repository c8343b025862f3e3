import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

function sunset(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=development', '--no-warnings=ExperimentalWarning', bin, ...args],
    { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '', FORCE_COLOR: undefined } },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PLAN = `version: 1
organisation:
  id: county-test
  name: Test County Council
  timezone: Europe/London
  locale: en-GB
networks:
  bluesky:
    handle: testcounty.example
    credentials:
      identifier: env:COUNTY_TEST__BSKY_ID
      app_password: env:COUNTY_TEST__BSKY_PASSWORD
  mastodon:
    instance: https://social.testcounty.example
    account: "@council@social.testcounty.example"
    credentials:
      access_token: env:COUNTY_TEST__MASTODON
sunset:
  at: 2099-01-20T09:00
  x_after: leave
audience:
  starter_pack:
    name: Test County and its services
  accounts:
    - name: Libraries
      relation: service
      bluesky: libraries.testcounty.example
`;

describe('sunset audience page', () => {
  it("writes index.html in the plan's language, with its policy inside it", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sunset-audience-'));
    writeFileSync(path.join(dir, 'plan.yaml'), PLAN);
    const out = path.join(dir, 'site');
    const r = sunset('audience', 'page', path.join(dir, 'plan.yaml'), '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^✓ \S+index\.html {2}\d+ bytes\n$/);
    const html = readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toContain('<h1>Where to follow Test County Council</h1>');
    expect(html).toMatch(
      /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'sha256-/,
    );
    expect(html).toContain('<meta name="fediverse:creator" content="@council@social.testcounty.example">');
    expect(html).toMatch(/https:\/\/bsky\.app\/starter-pack\/testcounty\.example\/[2-7a-z]{13}/);
    expect(html.match(/<svg /g)).toHaveLength(4);
  });

  it('refuses an invalid plan, saying where, and writes nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sunset-audience-'));
    writeFileSync(path.join(dir, 'plan.yaml'), PLAN.replace('relation: service', 'relation: cousin'));
    const out = path.join(dir, 'site');
    const r = sunset('audience', 'page', path.join(dir, 'plan.yaml'), '--out', out);
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/audience\.accounts\[0\]\.relation/);
    expect(existsSync(out)).toBe(false);
  });
});

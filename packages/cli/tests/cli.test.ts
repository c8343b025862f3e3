import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** Runs the real `sunset` command in a child process, as a user would from the repository root. */
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

function tempPlan(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sunset-cli-'));
  const file = path.join(dir, 'plan.yaml');
  writeFileSync(file, text);
  return file;
}

const examples = readdirSync(path.join(root, 'config/plans'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => `config/plans/${f}`);

const FIVE_MISTAKES = `version: 1
organisation:
  id: Ville de Test
  name: Ville de Test
  timezone: Europe/Paris
  locale: fr-FR
networks:
  bluesky:
    handle: test.fr
    credentials:
      identifier: env:BSKY_ID
      app_password: hunter2-is-my-password
sunset:
  at: 2027-01-20T09:00
  x_after: leave
posts:
  - id: farewell
    at: sunset - 7 days
    on: [bluesky, mastodon]
    text: Au revoir {organisation.nom}
`;

const X_COSTS = `version: 1
organisation:
  id: ville-de-test
  name: Ville de Test
  timezone: Europe/Paris
  locale: fr-FR
networks:
  x:
    account: "@VilleDeTest"
    credentials:
      app_key: env:VILLE_DE_TEST__X_APP_KEY
      app_secret: env:VILLE_DE_TEST__X_APP_SECRET
      access_token: env:VILLE_DE_TEST__X_ACCESS_TOKEN
      access_secret: env:VILLE_DE_TEST__X_ACCESS_SECRET
sunset:
  at: 2099-01-20T09:00
  x_after: crisis-only
posts:
  - id: plain
    at: sunset - 7d
    on: [x]
    text: Nous quittons X le 20 janvier. Retrouvez-nous sur Bluesky.
  - id: linked
    at: sunset - 6d
    on: [x]
    text: Nous quittons X le 20 janvier. Tout est sur https://www.tours.fr/reseaux
`;

describe('sunset plan validate', () => {
  it('has example plans to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  it.each(examples)('accepts %s (exit 0)', (file) => {
    const r = sunset('plan', 'validate', file);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`✓ ${file} is valid`);
    expect(r.status).toBe(0);
  });

  it('reports five different mistakes with line:column and exits 1', () => {
    const file = tempPlan(FIVE_MISTAKES);
    const r = sunset('plan', 'validate', file, '--now', '2026-11-21T00:00:00Z');
    expect(r.status).toBe(1);
    const lines = r.stdout.trim().split('\n');
    const problems = lines.filter((l) => /^\S+plan\.yaml:\d+:\d+ {2}/.test(l));
    expect(problems.map((l) => l.replace(/^\S+plan\.yaml:/, ''))).toEqual([
      expect.stringMatching(/^3:7 {2}organisation\.id {2}"Ville de Test" is not a valid organisation id/),
      expect.stringMatching(
        /^12:21 {2}networks\.bluesky\.credentials\.app_password {2}this looks like a secret/,
      ),
      expect.stringMatching(/^18:9 {2}posts\[0\]\.at {2}"sunset - 7 days" is not a time expression/),
      expect.stringMatching(
        /^19:19 {2}posts\[0\]\.on\[1\] {2}this post is aimed at Mastodon, but the plan does not configure it/,
      ),
      expect.stringMatching(
        /^20:11 {2}posts\[0\]\.text {2}unknown placeholder \{organisation\.nom\}; did you mean \{organisation\.name\}\?/,
      ),
    ]);
    expect(lines.at(-1)).toMatch(/plan\.yaml: 5 errors$/);
    expect(r.stdout).not.toContain('hunter2');
  });

  it('points at a YAML syntax error', () => {
    const file = tempPlan('version: 1\norganisation:\n  id: [unclosed\n  name: x\n');
    const r = sunset('plan', 'validate', file);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/plan\.yaml:\d+:\d+ {2}\(plan\) {2}YAML: /);
  });

  it('prints JSON for machines', () => {
    const file = tempPlan(FIVE_MISTAKES);
    const r = sunset('plan', 'validate', '--json', file);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      errors: number;
      diagnostics: { line: number; path: string }[];
    };
    expect(out.valid).toBe(false);
    expect(out.errors).toBe(5);
    expect(out.diagnostics.map((d) => d.path)).toContain('posts[0].at');
  });

  it('says when the file does not exist', () => {
    const r = sunset('plan', 'validate', 'nowhere.yaml');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('nowhere.yaml:1:1  (plan)  cannot read the plan: no such file');
  });

  it('exits 2 on bad usage', () => {
    const r = sunset('plan', 'validate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("missing required argument 'files'");
  });
});

describe('sunset plan preview', () => {
  it('shows the timeline in local time and UTC with lengths per network', () => {
    const file = examples.find((f) => f.includes('tours')) ?? examples[0] ?? '';
    const r = sunset('plan', 'preview', file);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /sunset {4}\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC\+0[12]:00\) {2}= \d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z/,
    );
    expect(r.stdout).toMatch(/X {2}(thread \d+\/\d+, )?\d+\/280 characters/);
    expect(r.stdout).toMatch(/Bluesky {2}(thread \d+\/\d+, )?\d+\/300 graphemes/);
    expect(r.stdout).toContain('Timeline');
    // Not a terminal: no colour codes.
    expect(r.stdout).not.toContain('\u001b[');
  });

  it('prints the compiled plan as JSON', () => {
    const file = examples[0] ?? '';
    const r = sunset('plan', 'preview', '--json', file);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      actions: { id: string; at: string; kind: string }[];
      sunset: { utc: string };
    };
    expect(out.actions.length).toBeGreaterThan(0);
    for (const a of out.actions) expect(a.at).toMatch(/Z$/);
    expect(out.sunset.utc).toMatch(/Z$/);
  });

  it("shows each X post's cost, threads per part, the total and the link warning", () => {
    const file = tempPlan(X_COSTS);
    const r = sunset('plan', 'preview', file);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('X costs');
    expect(r.stdout).toContain('  plain  $0.015\n');
    expect(r.stdout).toContain(
      "  linked  $0.20\n    ⚠ costs $0.20 on X because it contains a link; the same post with the handle or the site's name written without a link costs $0.015",
    );
    expect(r.stdout).toContain('X total: $0.215 for 2 posts');
    const json = JSON.parse(sunset('plan', 'preview', '--json', file).stdout) as {
      xCost: { totalMicros: number };
    };
    expect(json.xCost.totalMicros).toBe(215_000);
    // The operator's prices, not the plan's.
    const priced = spawnSync(
      process.execPath,
      ['--conditions=development', '--no-warnings=ExperimentalWarning', bin, 'plan', 'validate', file],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '', SUNSET_X_PRICES: 'create=0.02' } },
    );
    expect(priced.status).toBe(0);
    expect(priced.stdout).toContain('X total: $0.22 for 2 posts');
  });

  it('refuses an invalid plan', () => {
    const r = sunset('plan', 'preview', tempPlan(FIVE_MISTAKES));
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('is not valid: nothing to preview');
  });
});

describe('help', () => {
  it.each([[], ['plan'], ['plan', 'validate'], ['plan', 'preview'], ['plan', 'schema']])(
    'sunset %j --help',
    (...args) => {
      const r = sunset(...args, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Usage: sunset/);
    },
  );
});

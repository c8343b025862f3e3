// What a plan may name, through the real `sunset plan validate` and `plan apply --dry-run`:
// secrets only in its organisation's namespace (variables ORG__*, files in
// SUNSET_SECRETS_DIR/<org>/), images only inside the plan's folder; an escape is a positioned error
// that says nothing of what lies outside.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const image = fileURLToPath(new URL('../../plan/tests/fixtures/assets/demenagement.png', import.meta.url));

function sunset(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=development', '--no-warnings=ExperimentalWarning', bin, ...args],
    {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env },
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Credentials {
  x: [string, string, string, string];
  bluesky: [string, string];
  mastodon: string;
}

function planText(credentials: Credentials, images: { posts?: string[][]; banner?: string } = {}): string {
  const [appKey, appSecret, accessToken, accessSecret] = credentials.x;
  const posts = (images.posts ?? [[]])
    .map(
      (files, i) =>
        `  - id: post-${i}\n    at: sunset\n    on: [bluesky, mastodon]\n    text: Au revoir.\n` +
        (files.length
          ? `    images:\n${files.map((f) => `      - { file: "${f}", alt: Une image }\n`).join('')}`
          : ''),
    )
    .join('');
  return `version: 1
organisation:
  id: ville-de-test
  name: Ville de Test
  timezone: Europe/Paris
  locale: fr-FR
networks:
  x:
    account: "@VilleTest"
    credentials:
      app_key: ${appKey}
      app_secret: ${appSecret}
      access_token: ${accessToken}
      access_secret: ${accessSecret}
  bluesky:
    handle: test.fr
    credentials:
      identifier: ${credentials.bluesky[0]}
      app_password: ${credentials.bluesky[1]}
  mastodon:
    instance: https://social.test.fr
    account: "@ville@social.test.fr"
    credentials:
      access_token: ${credentials.mastodon}
sunset:
  at: 2099-01-20T09:00
  x_after: crisis-only
posts:
${posts}${images.banner ? `dormant_profile:\n  at: sunset\n  bluesky:\n    banner: "${images.banner}"\n` : ''}`;
}

const GOOD: Credentials = {
  x: [
    'env:VILLE_DE_TEST__X_APP_KEY',
    'env:VILLE_DE_TEST__X_APP_SECRET',
    'file:x/access_token',
    'file:x_access_secret',
  ],
  bluesky: ['env:VILLE_DE_TEST__BSKY_ID', 'file:bsky_password'],
  mastodon: 'env:VILLE_DE_TEST__MASTODON_TOKEN',
};

/** A deployment's folders: the plan's folder, the secrets folder, and places outside both. */
function layout() {
  const base = mkdtempSync(path.join(tmpdir(), 'sunset-confine-'));
  const plans = path.join(base, 'plans');
  const secrets = path.join(base, 'secrets');
  const outside = path.join(base, 'outside');
  for (const d of [plans, path.join(plans, 'assets'), path.join(secrets, 'ville-de-test', 'x'), outside])
    mkdirSync(d, { recursive: true });
  mkdirSync(path.join(secrets, 'other-org'));
  writeFileSync(path.join(secrets, 'other-org', 'x'), 'the neighbour token\n');
  writeFileSync(path.join(secrets, 'postgres_password'), 'the database password\n');
  writeFileSync(path.join(secrets, 'ville-de-test', 'x_access_secret'), 'ours\n');
  symlinkSync(path.join(secrets, 'other-org', 'x'), path.join(secrets, 'ville-de-test', 'neighbour'));
  symlinkSync('../other-org', path.join(secrets, 'ville-de-test', 'next-door'));
  copyFileSync(image, path.join(plans, 'assets', 'inside.png'));
  copyFileSync(image, path.join(outside, 'photo.png'));
  symlinkSync(path.join(outside, 'photo.png'), path.join(plans, 'assets', 'link.png'));
  symlinkSync(path.join(outside, 'missing.png'), path.join(plans, 'assets', 'dangling.png'));
  symlinkSync(outside, path.join(plans, 'elsewhere'));
  const env = { SUNSET_SECRETS_DIR: secrets };
  const write = (text: string) => {
    const file = path.join(plans, 'plan.yaml');
    writeFileSync(file, text);
    return file;
  };
  return { base, plans, secrets, outside, env, write };
}

/** The `path  message` of each error line printed for plan.yaml. */
function errors(stdout: string): { path: string; message: string; line: number }[] {
  return stdout
    .split('\n')
    .map((l) => /plan\.yaml:(\d+):\d+ {2}(\S+) {2}(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && !m[3]!.startsWith('warning'))
    .map((m) => ({ line: Number(m[1]), path: m[2]!, message: m[3]! }));
}

describe('a plan names secrets only in its organisation namespace', () => {
  it('accepts references inside the namespace', () => {
    const l = layout();
    const r = sunset(l.env, 'plan', 'validate', l.write(planText(GOOD)));
    expect(r.stdout).toContain('is valid');
    expect(r.status).toBe(0);
  });

  it("refuses another organisation's variable, an operator variable, absolute paths, .. and a symlink out", () => {
    const l = layout();
    const file = l.write(
      planText({
        x: [
          'env:OTHER_ORG__X_APP_KEY',
          'env:DATABASE_URL',
          'file:/run/secrets/postgres_password',
          'file:../other-org/x',
        ],
        bluesky: ['file:neighbour', 'file:next-door/x'],
        mastodon: `file:${path.join(l.secrets, 'ville-de-test', 'x_access_secret')}`,
      }),
    );
    const r = sunset(l.env, 'plan', 'validate', file);
    expect(r.status).toBe(1);
    const env = "ville-de-test's plan may only name environment variables starting with VILLE_DE_TEST__";
    const files =
      "ville-de-test's plan may only name files inside its own secrets folder (SUNSET_SECRETS_DIR/ville-de-test/): " +
      'write file:<name>, a path relative to that folder';
    expect(errors(r.stdout)).toEqual([
      { line: 11, path: 'networks.x.credentials.app_key', message: expect.stringContaining(env) },
      { line: 12, path: 'networks.x.credentials.app_secret', message: expect.stringContaining(env) },
      { line: 13, path: 'networks.x.credentials.access_token', message: expect.stringContaining(files) },
      { line: 14, path: 'networks.x.credentials.access_secret', message: expect.stringContaining(files) },
      { line: 18, path: 'networks.bluesky.credentials.identifier', message: expect.stringContaining(files) },
      {
        line: 19,
        path: 'networks.bluesky.credentials.app_password',
        message: expect.stringContaining(files),
      },
      {
        line: 24,
        path: 'networks.mastodon.credentials.access_token',
        message: expect.stringContaining(files),
      },
    ]);
    // Nothing of what lies outside is shown: neither its contents nor where a link points.
    for (const hidden of [
      'neighbour token',
      'database password',
      'other-org',
      'postgres_password',
      l.secrets,
    ])
      expect(r.stdout).not.toContain(hidden);
  });

  it('refuses the same plan in plan apply --dry-run, changing nothing', () => {
    const l = layout();
    const file = l.write(planText({ ...GOOD, mastodon: 'file:/run/secrets/postgres_password' }));
    const r = sunset(
      { ...l.env, DATABASE_URL: path.join(l.base, 'sunset.db') },
      'plan',
      'apply',
      '--dry-run',
      file,
    );
    expect(r.status).toBe(1);
    expect(errors(r.stdout)).toEqual([
      {
        line: 24,
        path: 'networks.mastodon.credentials.access_token',
        message: expect.stringContaining(
          "ville-de-test's plan may only name files inside its own secrets folder",
        ),
      },
    ]);
    expect(r.stdout).toContain('nothing was changed');
  });

  it('suggests the namespaced forms for a malformed reference', () => {
    const l = layout();
    const r = sunset(l.env, 'plan', 'validate', l.write(planText({ ...GOOD, mastodon: '"file: "' })));
    expect(r.status).toBe(1);
    const [problem] = errors(r.stdout);
    expect(problem?.message).toContain('e.g. file:mastodon_access_token');
    expect(problem?.message).not.toContain('/run/secrets');
  });
});

describe('a plan names images only inside its folder', () => {
  const OUTSIDE = "is outside the plan's folder";

  it('accepts an image inside, and refuses absolute, .. and symlink escapes with one message, existing or not', () => {
    const l = layout();
    const names = [
      path.join(l.outside, 'photo.png'),
      path.join(l.outside, 'missing.png'),
      '../outside/photo.png',
      '../outside/missing.png',
      'assets/link.png',
      'assets/dangling.png',
      'elsewhere/photo.png',
      'elsewhere/missing.png',
    ];
    const file = l.write(
      planText(GOOD, {
        posts: [['assets/inside.png', ...names.slice(0, 2)], names.slice(2, 4), names.slice(5)],
        banner: names[4],
      }),
    );
    const r = sunset(l.env, 'plan', 'validate', file);
    expect(r.status).toBe(1);
    const found = errors(r.stdout);
    expect(found.map((e) => e.path)).toEqual([
      'posts[0].images[1].file',
      'posts[0].images[2].file',
      'posts[1].images[0].file',
      'posts[1].images[1].file',
      'posts[2].images[0].file',
      'posts[2].images[1].file',
      'posts[2].images[2].file',
      'dormant_profile.bluesky.banner',
    ]);
    // One message for all, whether the outside file exists or not; only the name written differs.
    const order = [0, 1, 2, 3, 5, 6, 7, 4];
    found.forEach((e, i) => {
      expect(e.message).toBe(`${names[order[i]!]} ${OUTSIDE}: name a file inside it, relative to the plan`);
    });
    expect(r.stdout).not.toContain('not found');
  });
});

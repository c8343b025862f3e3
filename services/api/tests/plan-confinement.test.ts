// POST /v1/plans refuses a plan that names a secret outside its organisation's namespace or an
// image outside the plans folder: 422 naming each field, nothing applied, dry run or not, and the
// same message whether or not what lies outside exists.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

const image = fileURLToPath(
  new URL('../../../packages/plan/tests/fixtures/assets/demenagement.png', import.meta.url),
);

let f: Fixture;
let outside: string;
beforeAll(async () => {
  f = await startFixture();
  outside = mkdtempSync(path.join(os.tmpdir(), 'sunset-outside-'));
  copyFileSync(image, path.join(outside, 'photo.png'));
  mkdirSync(path.join(f.dir, 'assets'));
  copyFileSync(image, path.join(f.dir, 'assets', 'inside.png'));
  symlinkSync(path.join(outside, 'photo.png'), path.join(f.dir, 'assets', 'link.png'));
  symlinkSync(path.join(outside, 'missing.png'), path.join(f.dir, 'assets', 'dangling.png'));
});
afterAll(async () => {
  await f?.close();
  if (outside) rmSync(outside, { recursive: true, force: true });
});

interface Detail {
  path: string;
  message: string;
  severity: string;
  line: number;
}

async function post(yaml: string, dryRun: boolean) {
  const r = await f.app.inject({
    method: 'POST',
    url: `/v1/plans?file=plan.yaml${dryRun ? '&dryRun=true' : ''}`,
    headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
    payload: yaml,
  });
  return { status: r.statusCode, body: r.json() as { error: { code: string; details: Detail[] } } };
}

describe('POST /v1/plans and the secrets namespace', () => {
  const prefix = "ville-de-test's plan may only name environment variables starting with VILLE_DE_TEST__";
  const folder = "ville-de-test's plan may only name files inside its own secrets folder";
  it.each([
    ['env:VILLE_VOISINE__T_MASTODON', prefix],
    ['env:DATABASE_URL', prefix],
    ['file:/run/secrets/postgres_password', folder],
    ['file:../ville-voisine/mastodon_token', folder],
    ['file:tokens/../../ville-voisine/mastodon_token', folder],
  ])('422 for %s, naming the field, and the plan unchanged', async (reference, message) => {
    const before = await f.store.plans.latest(ORG);
    const yaml = planYaml({ extraPost: true }).replace(
      /access_token: env:\S*T_MASTODON/,
      `access_token: ${reference}`,
    );
    expect(yaml).toContain(reference);
    for (const dryRun of [true, false]) {
      const r = await post(yaml, dryRun);
      expect(r.status).toBe(422);
      expect(r.body.error.code).toBe('invalid-plan');
      expect(r.body.error.details).toEqual([
        expect.objectContaining({
          severity: 'error',
          path: 'networks.mastodon.credentials.access_token',
          message: expect.stringContaining(message),
        }),
      ]);
      expect(JSON.stringify(r.body)).not.toContain('ville-voisine');
    }
    expect((await f.store.plans.latest(ORG))?.version).toBe(before?.version);
  });
});

describe('POST /v1/plans and image files', () => {
  it('422 for absolute, .. and symlink escapes, one message whether the file exists or not', async () => {
    const before = await f.store.plans.latest(ORG);
    const names = [
      path.join(outside, 'photo.png'),
      path.join(outside, 'missing.png'),
      `../${path.basename(outside)}/photo.png`,
      `../${path.basename(outside)}/missing.png`,
      'assets/link.png',
      'assets/dangling.png',
    ];
    const images = (files: string[]) =>
      `    images:\n${files.map((n) => `      - { file: "${n}", alt: Une photo }\n`).join('')}`;
    const yaml = planYaml().replace(
      'mirror:',
      `  - id: one\n    at: sunset - 1d\n    on: [bluesky]\n    text: Un.\n${images(['assets/inside.png', ...names.slice(0, 3)])}` +
        `  - id: two\n    at: sunset - 1d\n    on: [bluesky]\n    text: Deux.\n${images(names.slice(3))}mirror:`,
    );
    for (const dryRun of [true, false]) {
      const r = await post(yaml, dryRun);
      expect(r.status).toBe(422);
      expect(r.body.error.details.map((d) => [d.path, d.message])).toEqual([
        [
          'posts[1].images[1].file',
          `${names[0]} is outside the plan's folder: name a file inside it, relative to the plan`,
        ],
        [
          'posts[1].images[2].file',
          `${names[1]} is outside the plan's folder: name a file inside it, relative to the plan`,
        ],
        [
          'posts[1].images[3].file',
          `${names[2]} is outside the plan's folder: name a file inside it, relative to the plan`,
        ],
        [
          'posts[2].images[0].file',
          `${names[3]} is outside the plan's folder: name a file inside it, relative to the plan`,
        ],
        [
          'posts[2].images[1].file',
          `${names[4]} is outside the plan's folder: name a file inside it, relative to the plan`,
        ],
        [
          'posts[2].images[2].file',
          `${names[5]} is outside the plan's folder: name a file inside it, relative to the plan`,
        ],
      ]);
    }
    expect((await f.store.plans.latest(ORG))?.version).toBe(before?.version);
  });
});

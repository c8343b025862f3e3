// `sunset identity check` and the dormant X profile, run as a user runs it (the real `sunset` in
// a child process) against the X fake and a store of the test's own holding the applied plan
// whose dormant-profile step has run: the profile reads as the plan set it, then someone changes
// it behind the plan's back and the check fails naming what drifted; without the store (nor the
// API) the X check is skipped and says why, as a check that could not be made.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyPlan } from '@sunset/engine/outbox';
import { readPlanFile } from '@sunset/plan';
import { startXSandbox, type XSandbox } from '@sunset/sandboxes';
import { openTestStore, rawSql, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const ORG = 'ville-test';

function sunset(args: string[], env: Record<string, string>) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--conditions=development', bin, ...args], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const DORMANT = {
  name: 'Ville de Test (compte en veille)',
  bio: 'Ce compte ne publie plus. Retrouvez-nous sur Bluesky et Mastodon.',
  location: 'Test, France',
};

let x: XSandbox;
let t: TestStore;
let dir: string;
let plan: string;
/** What every run needs: the X credentials and the fake's CA and address. */
let base: Record<string, string>;

beforeAll(async () => {
  x = await startXSandbox();
  x.addAccount({
    id: '1001',
    username: 'VilleTest',
    name: 'Ville de Test',
    appKey: 'app-key-1',
    appSecret: 'app-secret-XYZ',
    accessToken: '1001-token',
    accessSecret: 'access-secret-XYZ',
  });
  t = await openTestStore('sqlite');
  dir = mkdtempSync(path.join(tmpdir(), 'sunset-identity-x-'));
  writeFileSync(path.join(dir, 'x-ca.pem'), x.ca);
  plan = path.join(dir, 'plan.yaml');
  writeFileSync(
    plan,
    `version: 1
organisation: { id: ${ORG}, name: Ville de Test, timezone: Europe/Paris, locale: fr-FR }
networks:
  x:
    account: "@VilleTest"
    api_base: ${x.url}
    credentials: { app_key: env:VILLE_TEST__T_X_KEY, app_secret: env:VILLE_TEST__T_X_SECRET, access_token: env:VILLE_TEST__T_X_TOKEN, access_secret: env:VILLE_TEST__T_X_ACCESS_SECRET }
sunset: { at: 2026-01-20T09:00, x_after: leave }
dormant_profile:
  at: sunset + 10m
  x: { name: "${DORMANT.name}", bio: "${DORMANT.bio}", location: "${DORMANT.location}" }
`,
  );
  base = {
    VILLE_TEST__T_X_KEY: 'app-key-1',
    VILLE_TEST__T_X_SECRET: 'app-secret-XYZ',
    VILLE_TEST__T_X_TOKEN: '1001-token',
    VILLE_TEST__T_X_ACCESS_SECRET: 'access-secret-XYZ',
    SUNSET_X_CA_FILE: path.join(dir, 'x-ca.pem'),
    SUNSET_FETCH_ALLOW: new URL(x.url).host,
    SUNSET_SECRETS_DIR: dir,
  };
  const read = readPlanFile(plan, { secretsDir: dir });
  await applyPlan({ store: t.store, plan: read.plan!, actor: 'cli:test' });
  // The worker's step set the dormant profile: the profile below is what X shows since.
  await rawSql(
    t,
    `update deliveries set status = 'published' where organisation_id = '${ORG}' and kind = 'profile' and network = 'x'`,
  );
}, 120_000);

afterAll(async () => {
  await x?.stop();
  await t?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('sunset identity check: the dormant X profile', () => {
  it('passes while the X profile reads as the plan set it, and bills the read', async () => {
    const profile = x.profileOf('1001')!;
    profile.name = DORMANT.name;
    profile.description = DORMANT.bio;
    profile.location = DORMANT.location;
    const r = await sunset(['identity', 'check', plan], { ...base, DATABASE_URL: t.url });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      '✓ x-profile  @VilleTest  the dormant X profile reads as the plan set it; its images are kept to compare from now on',
    );
    expect(r.status).toBe(0);
    expect(await t.store.xSpend.spentSince(ORG, new Date(0))).toBe(10_000);
    // The billed read is in the audit log under the person who ran the command.
    const [entry] = await t.store.audit.list({ organisationId: ORG, action: 'identity.checked' });
    expect(entry).toMatchObject({ network: 'x', outcome: 'ok', actor: expect.stringMatching(/^cli:/) });
    expect(entry?.details).toMatchObject({
      by: 'sunset identity check',
      results: [{ check: 'x-profile', subject: '@VilleTest', status: 'ok' }],
    });
  }, 60_000);

  it('fails, naming what drifted, once someone else changes the profile', async () => {
    x.profileOf('1001')!.name = 'Crypto giveaway 🚀';
    const r = await sunset(['identity', 'check', plan, '--json'], { ...base, DATABASE_URL: t.url });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const { results } = JSON.parse(r.stdout) as {
      results: { check: string; subject: string; status: string; message: string }[];
    };
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ check: 'x-profile', subject: '@VilleTest', status: 'failed' });
    expect(results[0]?.message).toContain(`name reads "Crypto giveaway 🚀", the plan set "${DORMANT.name}"`);
    expect(results[0]?.message).toContain('Someone else may control the account');
  }, 60_000);

  it('without the store or the API, says the X check was skipped and exits 3', async () => {
    const before = x.received.length;
    const r = await sunset(['identity', 'check', plan], base);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      /^\? x-profile {2}@VilleTest {2}skipped: .*needs the store \(DATABASE_URL\) or the API \(SUNSET_API_URL/m,
    );
    expect(r.status).toBe(3);
    // Nothing was asked of X: there is nothing to compare its answer with.
    expect(x.received.length).toBe(before);
  }, 60_000);
});

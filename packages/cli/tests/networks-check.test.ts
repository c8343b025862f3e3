import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startBlueskySandbox,
  startMastodonSandbox,
  startXSandbox,
  type BlueskySandbox,
  type MastodonSandbox,
  type XSandbox,
} from '@sunset/sandboxes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** Runs the real `sunset` command in a child process (async: the sandboxes live in this one). */
function sunset(args: string[], env: Record<string, string>) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--conditions=development', bin, ...args], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

let x: XSandbox;
let bsky: BlueskySandbox;
let masto: MastodonSandbox;
let dir: string;
let env: Record<string, string>;
let bskyHandle: string;

beforeAll(async () => {
  [x, bsky, masto] = await Promise.all([startXSandbox(), startBlueskySandbox(), startMastodonSandbox()]);
  x.addAccount({
    id: '1001',
    username: 'VilleTest',
    name: 'Ville de Test',
    appKey: 'app-key-1',
    appSecret: 'app-secret-XYZ',
    accessToken: '1001-token',
    accessSecret: 'access-secret-XYZ',
  });
  const account = await bsky.createAccount('ville');
  bskyHandle = account.handle;
  masto.addAccount({ username: 'ville', token: 'masto-token-XYZ', displayName: 'Ville de Test' });
  dir = mkdtempSync(path.join(tmpdir(), 'sunset-networks-check-'));
  writeFileSync(path.join(dir, 'x-ca.pem'), x.ca);
  writeFileSync(
    path.join(dir, 'plan.yaml'),
    `version: 1
organisation: { id: ville-test, name: Ville de Test, timezone: Europe/Paris, locale: fr-FR }
networks:
  x:
    account: "@VilleTest"
    api_base: ${x.url}
    credentials: { app_key: env:VILLE_TEST__T_X_KEY, app_secret: env:VILLE_TEST__T_X_SECRET, access_token: env:VILLE_TEST__T_X_TOKEN, access_secret: env:VILLE_TEST__T_X_ACCESS_SECRET }
  bluesky:
    handle: ${bskyHandle}
    service: ${bsky.url}
    credentials: { identifier: env:VILLE_TEST__T_BSKY_ID, app_password: env:VILLE_TEST__T_BSKY_PASSWORD }
  mastodon:
    instance: ${masto.url}
    account: "@ville@social.test.fr"
    credentials: { access_token: env:VILLE_TEST__T_MASTO_TOKEN }
sunset: { at: 2027-01-20T09:00, x_after: crisis-only }
`,
  );
  env = {
    VILLE_TEST__T_X_KEY: 'app-key-1',
    VILLE_TEST__T_X_SECRET: 'app-secret-XYZ',
    VILLE_TEST__T_X_TOKEN: '1001-token',
    VILLE_TEST__T_X_ACCESS_SECRET: 'access-secret-XYZ',
    VILLE_TEST__T_BSKY_ID: bskyHandle,
    VILLE_TEST__T_BSKY_PASSWORD: account.password,
    VILLE_TEST__T_MASTO_TOKEN: 'masto-token-XYZ',
  };
});

afterAll(async () => {
  await Promise.all([x?.stop(), bsky?.stop(), masto?.stop()]);
});

describe('sunset networks check', () => {
  it('logs in to every network through its real client and says who it is', async () => {
    const r = await sunset(
      ['networks', 'check', path.join(dir, 'plan.yaml'), '--ca-file', path.join(dir, 'x-ca.pem')],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/✓ X {8}@VilleTest/);
    expect(r.stdout).toContain(`✓ Bluesky  @${bskyHandle}`);
    expect(r.stdout).toMatch(/✓ Mastodon @ville@/);
    expect(r.status).toBe(0);
    for (const secret of [
      'app-secret-XYZ',
      'access-secret-XYZ',
      'masto-token-XYZ',
      env['VILLE_TEST__T_BSKY_PASSWORD'] ?? '',
    ]) {
      expect(r.stdout).not.toContain(secret);
    }
  });

  it('reports a refused token and a missing variable, network by network, and exits 1', async () => {
    const { VILLE_TEST__T_X_KEY: _unset, ...withoutXKey } = env;
    const r = await sunset(
      ['networks', 'check', path.join(dir, 'plan.yaml'), '--ca-file', path.join(dir, 'x-ca.pem'), '--json'],
      { ...withoutXKey, VILLE_TEST__T_MASTO_TOKEN: 'wrong-token' },
    );
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      networks: { network: string; ok: boolean; problem?: string }[];
    };
    expect(out.ok).toBe(false);
    const byNetwork = Object.fromEntries(out.networks.map((n) => [n.network, n]));
    expect(byNetwork['x']?.problem).toContain(
      'networks.x.credentials.app_key: the environment variable VILLE_TEST__T_X_KEY is not set',
    );
    expect(byNetwork['bluesky']?.ok).toBe(true);
    expect(byNetwork['mastodon']?.ok).toBe(false);
    expect(byNetwork['mastodon']?.problem).toMatch(/access token/i);
    expect(r.stdout).not.toContain('wrong-token');
  });

  it('refuses credentials of another account than the plan names', async () => {
    masto.addAccount({ username: 'someone-else', token: 'other-token-XYZ' });
    const r = await sunset(['networks', 'check', path.join(dir, 'plan.yaml'), '--network', 'mastodon'], {
      ...env,
      VILLE_TEST__T_MASTO_TOKEN: 'other-token-XYZ',
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      /✗ Mastodon these credentials log in as @someone-else@.*, but the plan names @ville@social\.test\.fr/,
    );
  });
});

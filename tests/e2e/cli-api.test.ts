// The `sunset` command as a client of the HTTP API (SUNSET_API_URL, SUNSET_TOKEN): crisis and
// ordinary posts, plan apply and status, audit export and verify, the worker's latest check of
// the dormant X profile, and what it says when the API refuses or is not there. The API runs on loopback over a real store and Redis.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '@sunset/api';
import { envPrefix, hashToken, mintToken, silentLogger, type Network } from '@sunset/core';
import { createRedis, Queues } from '@sunset/queue';
import { removePrefix, testPrefix, TEST_REDIS_URL } from '@sunset/queue/testing';
import { openStore, type Store, type TokenRole } from '@sunset/store';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(root, 'packages/cli/src/bin.ts');
const PLAN = path.join(root, 'config/plans/ville-de-tours.yaml');

let dir: string;
let store: Store;
let redis: Redis;
let queues: Queues;
let app: Awaited<ReturnType<typeof buildApp>>;
let base: string;
const prefix = testPrefix();
const tokens = {} as Record<TokenRole | 'approver', string>;

/** Runs the real CLI in a child process, without blocking this process (which serves the API). */
function sunset(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=development', '--no-warnings=ExperimentalWarning', BIN, ...args],
      {
        cwd: root,
        env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', SUNSET_API_URL: base, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
const as = (role: TokenRole) => ({ SUNSET_TOKEN: tokens[role] });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-cli-api-'));
  store = await openStore({ url: path.join(dir, 'sunset.db') });
  redis = createRedis(TEST_REDIS_URL, { role: 'producer' });
  await new Promise((r) => redis.once('ready', r));
  queues = new Queues({ connection: redis, prefix });
  await store.organisations.ensure({ id: 'ville-de-tours', name: 'Ville de Tours' });
  for (const role of ['planner', 'editor', 'crisis', 'auditor'] as const) {
    tokens[role] = mintToken();
    await store.tokens.create({
      id: role,
      organisationId: 'ville-de-tours',
      name: `${role}-tours`,
      role,
      hash: hashToken(tokens[role]),
      createdBy: 'cli:test',
    });
  }
  tokens.approver = mintToken();
  await store.tokens.create({
    id: 'approver',
    organisationId: 'ville-de-tours',
    name: 'chef-de-salle',
    role: 'crisis',
    hash: hashToken(tokens.approver),
    createdBy: 'cli:test',
  });
  app = await buildApp({ store, queues, redis, logger: silentLogger(), plansDir: path.dirname(PLAN) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  await app?.close();
  await queues?.close();
  redis?.disconnect();
  await removePrefix(TEST_REDIS_URL, prefix);
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sunset over the API', () => {
  it('applies a plan and shows its status', async () => {
    const apply = await sunset(['plan', 'apply', PLAN], as('planner'));
    // The API's plan warnings (a post that becomes a thread on X) come on stderr, with their place.
    for (const line of apply.stderr.split('\n').filter(Boolean))
      expect(line).toMatch(/^\S+:\d+:\d+ .* warning: /);
    expect(apply.status).toBe(0);
    expect(apply.stdout).toMatch(/^\+ .*post au-revoir/m);
    expect(apply.stdout).toMatch(/applied as version 1 of ville-de-tours/);
    const status = await sunset(['plan', 'status', 'ville-de-tours'], as('planner'));
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/ville-de-tours: plan version 1, applied .* by token:planner-tours/);
    const wrong = await sunset(['plan', 'status', 'ville-de-paris'], as('planner'));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/this token belongs to ville-de-tours, not ville-de-paris/);
  });

  it('sends a crisis as text and as CAP, and follows its status', async () => {
    const sent = await sunset(
      ['crisis', 'send', '--text', 'Crue de la Loire : les quais sont fermés.', '--key', 'crue-1'],
      as('crisis'),
    );
    expect(sent.status, sent.stderr).toBe(0);
    // The Tours plan wants a second person to approve every crisis post.
    const id = /crisis (c-\S+) waiting for a second person/.exec(sent.stdout)?.[1];
    expect(id, sent.stdout).toBeDefined();
    const again = await sunset(
      ['crisis', 'send', '--text', 'Crue de la Loire : les quais sont fermés.', '--key', 'crue-1'],
      as('crisis'),
    );
    expect(again.stdout).toContain(
      `crisis ${id} waiting for a second person to approve it (sent before: the same post, not a new one)`,
    );
    const self = await sunset(['crisis', 'approve', id!], as('crisis'));
    expect(self.status).toBe(1);
    expect(self.stderr).toMatch(/cannot approve it: a second person must/);
    const approved = await sunset(['crisis', 'approve', id!], { SUNSET_TOKEN: tokens.approver });
    expect(approved.status, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`crisis ${id} accepted`);
    const status = await sunset(['crisis', 'status', id!], as('crisis'));
    expect(status.status).toBe(0);
    for (const n of ['X', 'Bluesky', 'Mastodon']) expect(status.stdout).toMatch(new RegExp(`${n}\\s+queued`));
    const capFile = path.join(dir, 'alert.xml');
    writeFileSync(
      capFile,
      `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x-1</identifier><sender>prefecture@example.gouv.fr</sender>
<sent>2026-12-01T08:00:00+01:00</sent><status>Exercise</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>fr-FR</language><category>Met</category><event>Orage</event><urgency>Expected</urgency><severity>Moderate</severity>
<certainty>Likely</certainty><headline>EXERCICE orages</headline></info></alert>`,
    );
    const capSent = await sunset(['crisis', 'send', '--cap', capFile], as('crisis'));
    expect(capSent.status).toBe(0);
    expect(capSent.stdout).toMatch(/recorded, not posted/);
    expect(capSent.stdout).toMatch(/CAP status Exercise/);
    // CAP 1.1 from a file in ISO-8859-1, as older feeds write it, with a <web> lacking its scheme.
    const latinFile = path.join(dir, 'alerte-latin1.xml');
    writeFileSync(
      latinFile,
      Buffer.from(
        `<?xml version="1.0" encoding="ISO-8859-1"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"><identifier>x-2</identifier><sender>prefecture@example.gouv.fr</sender>
<sent>2026-12-01T09:00:00+01:00</sent><status>Exercise</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>fr-FR</language><category>Met</category><event>Orage</event><urgency>Expected</urgency><severity>Moderate</severity>
<certainty>Very Likely</certainty><headline>EXERCICE orages à Tours</headline><web>www.meteo.example/37</web></info></alert>`,
        'latin1',
      ),
    );
    const latinSent = await sunset(['crisis', 'send', '--cap', latinFile], as('crisis'));
    expect(latinSent.status, latinSent.stderr).toBe(0);
    expect(latinSent.stdout).toMatch(
      /note: CAP alert\/info\[1\]\/web: <web> has no scheme: linked as https:\/\/www\.meteo\.example\/37/,
    );
  });

  it('sends an ordinary post with an image and its alternative text', async () => {
    const image = path.join(dir, 'affiche.png');
    writeFileSync(image, Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex'));
    const missingAlt = await sunset(
      ['post', 'send', '--text', 'Marché de Noël', '--image', image],
      as('editor'),
    );
    expect(missingAlt.status).toBe(2);
    expect(missingAlt.stderr).toMatch(/every image needs its alternative text/);
    const sent = await sunset(
      [
        'post',
        'send',
        '--text',
        'Marché de Noël samedi.',
        '--image',
        image,
        '--alt',
        'Affiche du marché',
        '--networks',
        'bluesky,mastodon',
      ],
      as('editor'),
    );
    expect(sent.status).toBe(0);
    const id = /post (p-\S+) accepted/.exec(sent.stdout)?.[1];
    const deliveries = await store.deliveries.list({ organisationId: 'ville-de-tours', postId: id! });
    expect(deliveries.map((d) => d.network).sort()).toEqual(['bluesky', 'mastodon'] as Network[]);
    expect(deliveries[0]?.parts[0]?.images[0]?.alt).toBe('Affiche du marché');
  });

  it('exports the audit log and verifies the chain', async () => {
    const out = path.join(dir, 'audit.csv');
    const exported = await sunset(['audit', 'export', '--format', 'csv', '--out', out], as('auditor'));
    expect(exported.status).toBe(0);
    const csv = readFileSync(out, 'utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^seq,at,organisationId,actor,action/);
    expect(csv).toMatch(/crisis\.awaiting-approval/);
    expect(csv).toMatch(/crisis\.approved,/);
    expect(csv).toMatch(/token:chef-de-salle/);
    expect(csv).toMatch(/token:crisis-tours/);
    const nd = await sunset(
      ['audit', 'export', '--format', 'ndjson', '--action', 'plan.applied'],
      as('auditor'),
    );
    const lines = nd.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string });
    expect(lines.length).toBe(1);
    expect(lines[0]?.action).toBe('plan.applied');
    // Another organisation's entries are verified too, but neither counted nor named.
    await store.organisations.ensure({ id: 'ville-voisine', name: 'Ville voisine' });
    for (let i = 0; i < 5; i++)
      await store.audit.append({
        organisationId: 'ville-voisine',
        actor: 'cli:test',
        action: 'test.note',
        outcome: 'ok',
      });
    const verify = await sunset(['audit', 'verify'], as('auditor'));
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/the audit log is intact: \d+ entries of ville-de-tours checked/);
    expect(verify.stdout).not.toContain('ville-voisine');
    // Reads are written to the audit log once answered: the count is the organisation's at the time.
    const before = await store.audit.count({ organisationId: 'ville-de-tours' });
    const json = await sunset(['audit', 'verify', '--json'], as('auditor'));
    const after = await store.audit.count({ organisationId: 'ville-de-tours' });
    const result = JSON.parse(json.stdout) as { ok: boolean; organisationId: string; checked: number };
    expect(result).toMatchObject({ ok: true, organisationId: 'ville-de-tours' });
    expect(result.checked).toBeGreaterThanOrEqual(before);
    expect(result.checked).toBeLessThanOrEqual(after);
    expect(after + 5).toBeLessThanOrEqual((await store.audit.head()).seq);
    // Two a minute per organisation by default: the third is refused, and says when to retry.
    const third = await sunset(['audit', 'verify'], as('auditor'));
    expect(third.status).toBe(1);
    expect(third.stderr).toMatch(/the API refused \(429\): at most 2 audit verifications per minute/);
  });

  it("identity check shows the worker's latest check of the dormant X profile, for the token's organisation only", async () => {
    // A plan with X alone: the Bluesky and Mastodon checks would ask servers outside the test.
    const plan = path.join(dir, 'identity.yaml');
    const xPlan = (org: string) =>
      `version: 1
organisation: { id: ${org}, name: Ville, timezone: Europe/Paris, locale: fr-FR }
networks:
  x:
    account: "@VilleDeTours"
    credentials: { app_key: env:${envPrefix(org)}K, app_secret: env:${envPrefix(org)}S, access_token: env:${envPrefix(org)}T, access_secret: env:${envPrefix(org)}A }
sunset: { at: 2026-01-20T09:00, x_after: leave }
dormant_profile:
  at: sunset + 10m
  x: { name: Ville de Tours (en veille) }
`;
    writeFileSync(plan, xPlan('ville-de-tours'));
    await store.watch.recordIdentityCheck({
      organisationId: 'ville-de-tours',
      failed: 1,
      results: [
        {
          check: 'x-profile',
          subject: '@VilleDeTours',
          status: 'failed',
          message: 'the dormant X profile has changed since the plan set it: name reads "Crypto giveaway"',
        },
      ],
    });
    const r = await sunset(['identity', 'check', plan], as('auditor'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      /^✗ x-profile {2}@VilleDeTours {2}the worker's check of \d{4}-\d\d-\d\dT[\d:.]+Z \(through http:\/\/127\.0\.0\.1:\d+\): the dormant X profile has changed since the plan set it: name reads "Crypto giveaway"$/m,
    );
    expect(r.status).toBe(1);

    writeFileSync(plan, xPlan('ville-voisine'));
    const other = await sunset(['identity', 'check', plan], as('auditor'));
    expect(other.stdout).toContain(
      "? x-profile  @VilleDeTours  the token is for ville-de-tours, not ville-voisine: the worker's X check of ville-voisine is not shown",
    );
    expect(other.stdout).not.toContain('Crypto giveaway');
    expect(other.status).toBe(3);
  });

  it('says why when the API refuses, when the token is missing and when the API is away', async () => {
    const refused = await sunset(['crisis', 'send', '--text', 'x'], as('editor'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /the API refused \(403\): an editor token cannot do this; it needs the role crisis/,
    );
    expect(refused.stderr).toMatch(/request id/);
    const noToken = await sunset(['crisis', 'send', '--text', 'x']);
    expect(noToken.status).toBe(2);
    expect(noToken.stderr).toMatch(/set SUNSET_TOKEN or SUNSET_TOKEN_FILE/);
    const away = await sunset(['crisis', 'send', '--text', 'x'], {
      ...as('crisis'),
      SUNSET_API_URL: 'http://127.0.0.1:1',
    });
    expect(away.status).toBe(69);
    expect(away.stderr).toMatch(/cannot reach the API at http:\/\/127\.0\.0\.1:1/);
  });
});

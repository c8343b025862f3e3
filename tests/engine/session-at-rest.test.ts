// Bluesky sessions at rest, through the worker's connector path (ConnectorRegistry, the store's
// kv) against a real PDS: no JWT in clear in the stored row, a new connector resumes the sealed
// session without logging in, a wrong key or a row left in clear means a fresh login (never a
// crash), and a row copied to another organisation does not open there.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createLogger, type Logger } from '@sunset/core';
import { applyPlan, ConnectorRegistry, kvSessionStore, openState, OrgSettingsCache } from '@sunset/engine';
import { startBlueskySandbox, type BlueskySandbox } from '@sunset/sandboxes';
import { validatePlan } from '@sunset/plan';
import { createRedis, Queues } from '@sunset/queue';
import { removePrefix, testPrefix, TEST_REDIS_URL } from '@sunset/queue/testing';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ORG = 'ville-de-test';
const OTHER = 'ville-voisine';
const KEY = Buffer.from('5e'.repeat(32), 'hex');
const WRONG = randomBytes(32);

let sandbox: BlueskySandbox;
let account: Awaited<ReturnType<BlueskySandbox['createAccount']>>;
let t: TestStore;
const prefix = testPrefix();
const lines: string[] = [];
const logger: Logger = createLogger({
  name: 'test',
  level: 'info',
  destination: { write: (l: string) => lines.push(l) },
});

const rowName = () => `session.bluesky:${account.handle}`;
const logins = () =>
  sandbox.received.filter((r) => r.path.startsWith('/xrpc/com.atproto.server.createSession')).length;

/** The organisation's namespace for environment variables (ville-de-test: VILLE_DE_TEST__). */
const envPrefix = (org: string) => `${org.toUpperCase().replaceAll('-', '_')}__`;

function plan(org: string): string {
  return `version: 1
organisation:
  id: ${org}
  name: Ville de Test
  timezone: Europe/Paris
  locale: fr-FR
  website: https://www.ville.test
networks:
  bluesky:
    handle: ${account.handle}
    service: ${sandbox.url}
    credentials:
      identifier: env:${envPrefix(org)}BSKY_ID
      app_password: env:${envPrefix(org)}BSKY_PASSWORD
sunset:
  at: 2099-01-20T09:00
  x_after: leave
posts:
  - id: farewell
    at: sunset
    on: [bluesky]
    text: Merci.
`;
}

/** The worker's connector path for `org`, with its Bluesky credentials in the environment. */
function registryFor(key: Buffer | undefined, org = ORG, idleMs?: number): ConnectorRegistry {
  return new ConnectorRegistry({
    store: t.store,
    env: {
      [`${envPrefix(org)}BSKY_ID`]: account.handle,
      [`${envPrefix(org)}BSKY_PASSWORD`]: account.password,
    },
    // No file: references here; the folder is never read.
    secretsDir: path.join(os.tmpdir(), 'sunset-no-secrets'),
    logger,
    ...(key ? { stateKey: key } : {}),
    ...(idleMs !== undefined ? { idleMs } : {}),
  });
}

/** Posts once through a fresh registry, as a restarted worker would. */
async function postWith(key: Buffer | undefined, text: string, org = ORG): Promise<void> {
  const registry = registryFor(key, org);
  try {
    const settings = await new OrgSettingsCache(t.store).get(org);
    const connector = await registry.get(settings, 'bluesky');
    await connector.publish({ text }, { idempotencyKey: `at-rest-${randomBytes(4).toString('hex')}` });
  } finally {
    await registry.close();
  }
}

beforeAll(async () => {
  sandbox = await startBlueskySandbox();
  account = await sandbox.createAccount('ville');
  t = await openTestStore('sqlite');
  const redis = createRedis(TEST_REDIS_URL, { role: 'producer' });
  await new Promise((r) => redis.once('ready', r));
  const queues = new Queues({ connection: redis, prefix });
  try {
    for (const org of [ORG, OTHER]) {
      const result = validatePlan(plan(org), { file: 'plan.yaml', baseDir: process.cwd() });
      if (!result.plan) throw new Error(JSON.stringify(result.diagnostics));
      await applyPlan({ store: t.store, queues, plan: result.plan, actor: 'cli:test' });
    }
  } finally {
    await queues.close();
    redis.disconnect();
  }
}, 120_000);

afterAll(async () => {
  await t?.cleanup();
  await sandbox?.stop();
  await removePrefix(TEST_REDIS_URL, prefix);
});

describe('Bluesky sessions in the store', () => {
  it('are sealed: the stored row holds no JWT, and only this organisation and key open it', async () => {
    await postWith(KEY, 'Premier message, session scellée.');
    expect(logins()).toBe(1);
    const raw = await t.store.kv.get(ORG, rowName());
    expect(raw).toBeDefined();
    const opened = openState(KEY, ORG, rowName(), raw!);
    if (!('value' in opened)) throw new Error(`the row does not open: ${opened.refused}`);
    const session = JSON.parse(opened.value) as { accessJwt: string; refreshJwt: string };
    expect(session.accessJwt.length).toBeGreaterThan(20);
    expect(raw).not.toContain(session.accessJwt);
    expect(raw).not.toContain(session.refreshJwt);
    // Random ciphertext may hold "eyJ" by chance (about 1 run in 250): the JWTs themselves are checked above.
    expect(raw).toMatch(/^sealed:v1:/);
    expect(raw).not.toMatch(/accessJwt|refreshJwt/);
    // Copied to another organisation (or under another name), it does not open.
    expect(openState(KEY, OTHER, rowName(), raw!)).toEqual({ refused: 'key' });
    await t.store.kv.set(OTHER, rowName(), raw!);
    expect(await kvSessionStore(t.store, OTHER, KEY).load(`bluesky:${account.handle}`)).toBeUndefined();
    expect(await t.store.kv.get(OTHER, rowName())).toBeUndefined();
  });

  it('a restarted connector resumes the sealed session: no new login on the PDS', async () => {
    const before = logins();
    await postWith(KEY, 'Deuxième message, même session.');
    expect(logins()).toBe(before);
  });

  it('an idle connector is closed and dropped; the next post resumes the session, no new login', async () => {
    const registry = registryFor(KEY, ORG, 60_000);
    try {
      const settings = await new OrgSettingsCache(t.store).get(ORG);
      const first = await registry.get(settings, 'bluesky');
      await first.publish(
        { text: 'Avant la pause.' },
        { idempotencyKey: `idle-${randomBytes(4).toString('hex')}` },
      );
      const before = logins();
      // Asked for again within the limit: kept.
      expect(registry.dropIdle(Date.now() + 30_000)).toBe(0);
      expect(await registry.get(settings, 'bluesky')).toBe(first);
      expect(registry.dropIdle(Date.now() + 61_000)).toBe(1);
      expect(registry.size).toBe(0);
      const second = await registry.get(settings, 'bluesky');
      expect(second).not.toBe(first);
      await second.publish(
        { text: 'Après la pause.' },
        { idempotencyKey: `idle-${randomBytes(4).toString('hex')}` },
      );
      expect(logins()).toBe(before);
    } finally {
      await registry.close();
    }
  });

  it('under a wrong key the row is dropped with a warning and a fresh login happens', async () => {
    const before = logins();
    lines.length = 0;
    await postWith(WRONG, 'Troisième message, autre clé.');
    expect(logins()).toBe(before + 1);
    expect(lines.join('\n')).toMatch(/does not open with this state key/);
    // Resealed under the new key.
    expect('value' in openState(WRONG, ORG, rowName(), (await t.store.kv.get(ORG, rowName()))!)).toBe(true);
  });

  it('a session stored in clear before is dropped with a warning, then sealed after a fresh login', async () => {
    const sealed = (await t.store.kv.get(ORG, rowName()))!;
    const opened = openState(WRONG, ORG, rowName(), sealed);
    if (!('value' in opened)) throw new Error('expected the row to open');
    await t.store.kv.set(ORG, rowName(), opened.value);
    const before = logins();
    lines.length = 0;
    await postWith(KEY, 'Quatrième message, après une session en clair.');
    expect(logins()).toBe(before + 1);
    expect(lines.join('\n')).toMatch(/kept in clear/);
    const raw = (await t.store.kv.get(ORG, rowName()))!;
    expect(raw).toMatch(/^sealed:v1:/);
    expect(raw).not.toMatch(/accessJwt|refreshJwt/);
    expect('value' in openState(KEY, ORG, rowName(), raw)).toBe(true);
  });
});

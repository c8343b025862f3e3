/**
 * An app of the test's own: a SQLite store in a temporary folder, queues under a Redis key
 * prefix of its own, an applied plan (no network is ever called by the API, so credentials
 * only need to be references), and one token per role.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envPrefix, hashToken, mintToken, silentLogger } from '@sunset/core';
import { applyPlan } from '@sunset/engine/outbox';
import { validatePlan } from '@sunset/plan';
import { createRedis, Queues } from '@sunset/queue';
import { removePrefix, testPrefix, TEST_REDIS_URL } from '@sunset/queue/testing';
import { openStore, type Dialect, type Store, type TokenRole } from '@sunset/store';
import { openTestStore } from '@sunset/store/testing';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp, type AppOptions } from '../src/app.ts';

export const ORG = 'ville-de-test';
export const OTHER_ORG = 'ville-voisine';

export function planYaml(
  options: { org?: string; sunset?: string; approval?: 'none' | 'second-person'; extraPost?: boolean } = {},
): string {
  const org = options.org ?? ORG;
  const prefix = envPrefix(org);
  return `version: 1
organisation:
  id: ${org}
  name: Ville de Test
  timezone: Europe/Paris
  locale: fr-FR
  website: https://www.ville.test
networks:
  x:
    account: "@VilleDeTest"
    credentials:
      app_key: env:${prefix}T_X_KEY
      app_secret: env:${prefix}T_X_SECRET
      access_token: env:${prefix}T_X_TOKEN
      access_secret: env:${prefix}T_X_ACCESS
  bluesky:
    handle: ville.test
    credentials:
      identifier: env:${prefix}T_BSKY_ID
      app_password: env:${prefix}T_BSKY_PASSWORD
  mastodon:
    instance: https://social.ville.test
    account: "@ville@social.ville.test"
    credentials:
      access_token: env:${prefix}T_MASTODON
sunset:
  at: ${options.sunset ?? '2099-01-20T09:00'}
  x_after: crisis-only
posts:
  - id: farewell
    at: sunset
    on: [x, bluesky, mastodon]
    text: Merci à toutes et à tous. Retrouvez-nous sur Bluesky {bluesky.url}.
${options.extraPost ? `  - id: extra\n    at: sunset - 1d\n    on: [bluesky]\n    text: Un message de plus.\n` : ''}mirror:
  before_sunset: [x, bluesky, mastodon]
  after_sunset: [bluesky, mastodon]
crisis:
  on: [x, bluesky, mastodon]
  label: "🔴 ALERTE"
  link: https://www.ville.test/alertes
  hashtags: ["#VilleDeTest"]
  approval: ${options.approval ?? 'none'}
`;
}

export interface Fixture {
  app: FastifyInstance;
  store: Store;
  queues: Queues;
  redis: Redis;
  prefix: string;
  dir: string;
  tokens: Record<TokenRole | 'otherOrg' | 'crisis2' | 'revoked', string>;
  auth(role: keyof Fixture['tokens']): { authorization: string };
  close(): Promise<void>;
}

/** The API on a store of its own (SQLite by default; a PostgreSQL schema of its own if asked). */
export async function startFixture(
  overrides: Partial<AppOptions> = {},
  plan = planYaml(),
  dialect: Dialect = 'sqlite',
): Promise<Fixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-api-'));
  const onPostgres = dialect === 'postgres' ? await openTestStore('postgres') : undefined;
  const store = onPostgres?.store ?? (await openStore({ url: path.join(dir, 'sunset.db') }));
  const prefix = testPrefix();
  const redis = createRedis(TEST_REDIS_URL, { role: 'producer' });
  await new Promise((r) => redis.once('ready', r));
  const queues = new Queues({ connection: redis, prefix });
  writeFileSync(path.join(dir, 'plan.yaml'), plan);
  for (const [org, text] of [
    [ORG, plan],
    [OTHER_ORG, planYaml({ org: OTHER_ORG })],
  ] as const) {
    const result = validatePlan(text, { file: 'plan.yaml', baseDir: dir });
    if (!result.plan)
      throw new Error(`fixture plan of ${org} is invalid: ${JSON.stringify(result.diagnostics)}`);
    await applyPlan({ store, queues, plan: result.plan, actor: 'cli:fixture' });
  }
  const tokens = {} as Fixture['tokens'];
  const make = async (
    key: keyof Fixture['tokens'],
    org: string,
    role: TokenRole,
    name: string,
    person?: string,
  ) => {
    const token = mintToken();
    await store.tokens.create({
      id: `${key}-id`,
      organisationId: org,
      name,
      ...(person ? { person } : {}),
      role,
      hash: hashToken(token),
      createdBy: 'cli:fixture',
    });
    tokens[key] = token;
  };
  for (const role of ['admin', 'planner', 'editor', 'crisis', 'auditor'] as const)
    await make(role, ORG, role, `${role}-person`);
  // A person whose name differs from the token's, as `sunset token create --person` makes them.
  await make('crisis2', ORG, 'crisis', 'second-duty-officer', 'julie.martin');
  await make('otherOrg', OTHER_ORG, 'admin', 'neighbour-admin');
  await make('revoked', ORG, 'editor', 'former-editor');
  await store.tokens.revoke(ORG, 'former-editor');
  const app = await buildApp({ store, queues, redis, logger: silentLogger(), plansDir: dir, ...overrides });
  await app.ready();
  return {
    app,
    store,
    queues,
    redis,
    prefix,
    dir,
    tokens,
    auth: (role) => ({ authorization: `Bearer ${tokens[role]}` }),
    async close() {
      await app.close();
      await queues.close();
      redis.disconnect();
      await removePrefix(TEST_REDIS_URL, prefix);
      if (onPostgres) await onPostgres.cleanup();
      else await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const CAP_ALERT = (o: {
  id: string;
  status?: string;
  msgType?: string;
  references?: string;
  headline?: string;
}) => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${o.id}</identifier>
  <sender>alerte@indre-et-loire.gouv.fr</sender>
  <sent>2026-12-01T08:00:00+01:00</sent>
  <status>${o.status ?? 'Actual'}</status>
  <msgType>${o.msgType ?? 'Alert'}</msgType>
  <scope>Public</scope>${o.references ? `\n  <references>${o.references}</references>` : ''}
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <event>Crue</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <headline>${o.headline ?? 'Crue de la Loire : vigilance rouge'}</headline>
    <description>La Loire atteindra 6 mètres au pont Wilson dans la nuit.</description>
    <instruction>Évitez les quais et suivez les consignes des secours.</instruction>
    <web>https://www.indre-et-loire.gouv.fr/crue</web>
  </info>
</alert>`;

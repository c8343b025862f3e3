// The worker resolves a plan's credential references only inside the organisation's namespace,
// even for a plan that reached the store without the validation that refuses them (stored before
// the rule, or written straight into the store): the delivery fails for good with the reason,
// and no request reaches the server the plan names.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyPlan, startWorkerRuntime, type WorkerRuntime } from '@sunset/engine';
import { validatePlan } from '@sunset/plan';
import { createRedis, Queues } from '@sunset/queue';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import type { Redis } from 'ioredis';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_LIMITS, iso, testLogger, testRedis, waitFor, type TestRedis } from '../support/exit-harness.ts';

const ORG = 'ville-de-test';
const DB_PASSWORD = 'operator-db-password';
const NEIGHBOUR_TOKEN = 'neighbour-mastodon-token';

let t: TestStore;
let redis: TestRedis;
let connection: Redis;
let producer: Redis;
let queues: Queues;
let runtime: WorkerRuntime;
let dir: string;
let secrets: string;
let server: ReturnType<typeof createServer>;
let instance: string;
const received: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-scope-'));
  secrets = path.join(dir, 'secrets');
  mkdirSync(path.join(secrets, ORG), { recursive: true });
  mkdirSync(path.join(secrets, 'ville-voisine'));
  writeFileSync(path.join(secrets, 'postgres_password'), `${DB_PASSWORD}\n`);
  writeFileSync(path.join(secrets, 'ville-voisine', 'mastodon_token'), `${NEIGHBOUR_TOKEN}\n`);
  symlinkSync(path.join(secrets, 'ville-voisine', 'mastodon_token'), path.join(secrets, ORG, 'borrowed'));
  // Stands for a server of the planner's choosing: it records whatever reaches it.
  server = createServer((req, res) => {
    received.push(req.headers);
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  instance = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  t = await openTestStore('sqlite');
  redis = testRedis();
  connection = createRedis(redis.url, { role: 'worker' });
  producer = createRedis(redis.url, { role: 'producer' });
  await new Promise((r) => producer.once('ready', r));
  queues = new Queues({ connection: producer, prefix: redis.prefix });
  runtime = await startWorkerRuntime({
    store: t.store,
    connection,
    prefix: redis.prefix,
    logger: testLogger,
    env: {
      DATABASE_URL: `postgres://sunset:${DB_PASSWORD}@db/sunset`,
      VILLE_VOISINE__MASTODON_TOKEN: NEIGHBOUR_TOKEN,
      VILLE_DE_TEST__MASTODON_TOKEN: 'our-own-token',
    },
    secretsDir: secrets,
    dataDir: dir,
    networks: ['mastodon'],
    limits: FAST_LIMITS,
    reconcileIntervalMs: 0,
  });
});
afterAll(async () => {
  await runtime?.close(5_000);
  await queues?.close();
  connection?.disconnect();
  producer?.disconnect();
  await redis?.cleanup();
  await t?.cleanup();
  await new Promise((r) => server?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function plan(postId: string, reference: string) {
  const yaml = `version: 1
organisation:
  id: ${ORG}
  name: Ville de Test
  timezone: Europe/Paris
  locale: fr-FR
networks:
  mastodon:
    instance: ${instance}
    account: "@ville@social.ville.test"
    credentials:
      access_token: env:VILLE_DE_TEST__MASTODON_TOKEN
sunset:
  at: ${iso(Date.now() + 30 * 24 * 3600_000)}
  x_after: crisis-only
posts:
  - id: ${postId}
    at: ${iso(Date.now() - 60_000)}
    on: [mastodon]
    text: Bonjour.
`;
  const valid = validatePlan(yaml, { file: 'plan.yaml', baseDir: dir });
  if (!valid.plan) throw new Error(JSON.stringify(valid.diagnostics));
  // As a plan stored before the rule, or written into the store by hand: no validation refused it.
  const stored = yaml.replace('env:VILLE_DE_TEST__MASTODON_TOKEN', reference);
  return { ...valid.plan, source: stored, document: parse(stored) as typeof valid.plan.document };
}

describe('the worker resolves secrets only in the organisation namespace', () => {
  const env = "ville-de-test's plan may only name environment variables starting with VILLE_DE_TEST__";
  const files = "ville-de-test's plan may only name files inside its own secrets folder";
  it.each([
    ['env:DATABASE_URL', env],
    ['env:VILLE_VOISINE__MASTODON_TOKEN', env],
    ['file:<secrets>/postgres_password', files],
    ['file:../ville-voisine/mastodon_token', files],
    ['file:borrowed', files],
  ])('%s: the delivery fails for good with the reason, nothing is sent', async (reference, reason) => {
    const ref = reference.replace('<secrets>', secrets);
    const postId = `p${Math.abs(hash(ref))}`;
    await applyPlan({ store: t.store, queues, plan: plan(postId, ref), actor: 'cli:test' });
    const id = `${ORG}.post.${postId}.mastodon`;
    await waitFor('the delivery to end, or a request to reach the server', async () => {
      const d = await t.store.deliveries.get(id);
      return d?.status === 'failed' || d?.status === 'published' || received.length > 0;
    });
    const d = await t.store.deliveries.get(id);
    expect(d?.status).toBe('failed');
    expect(d?.attempts).toBe(1);
    expect(d?.lastError).toContain(reason);
    expect(d?.lastError).not.toContain(DB_PASSWORD);
    expect(d?.lastError).not.toContain('ville-voisine');
    expect(received).toEqual([]);
  });
});

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

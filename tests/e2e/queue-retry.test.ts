// A delivery that failed, retried from the queue, end to end: API and worker as processes of their
// own, the sandbox networks. Mastodon refuses the post (422, a permanent error) so the worker marks
// it failed at once; GET /v1/queue shows it with the reason and a retry; once the instance takes it
// again, POST /v1/deliveries/:id/retry queues it under a new job and the worker publishes it.
import type { ChildProcess } from 'node:child_process';
import { hashToken, mintToken } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import { freePort } from '@sunset/queue/testing';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ENTRY,
  ORG,
  PlanFolder,
  postedTexts,
  sandboxFetchAllow,
  startService,
  startSandboxes,
  testRedis,
  waitFor,
  WORKER_ENTRY,
  type Sandboxes,
  type TestRedis,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let t: TestStore;
let redis: TestRedis;
let plans: PlanFolder;
let base: string;
let editor = '';
const children: ChildProcess[] = [];

async function api(method: string, url: string, body?: unknown) {
  const r = await fetch(`${base}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${editor}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  sandboxes = await startSandboxes();
  t = await openTestStore('sqlite');
  redis = testRedis();
  plans = new PlanFolder(sandboxes);
  // Before the sunset: ordinary posts go to every network of the mirror.
  await applyPlan({
    store: t.store,
    plan: plans.write({
      sunset: new Date(Date.now() + 30 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      posts: [],
    }),
    actor: 'cli:test',
  });
  editor = mintToken();
  await t.store.tokens.create({
    id: 'tok-dan',
    organisationId: ORG,
    name: 'redaction-dan',
    person: 'dan',
    role: 'editor',
    hash: hashToken(editor),
    createdBy: 'cli:test',
  });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const common = {
    DATABASE_URL: t.url,
    REDIS_URL: redis.url,
    SUNSET_QUEUE_PREFIX: redis.prefix,
    SUNSET_DATA_DIR: plans.dir,
    SUNSET_SECRETS_DIR: sandboxes.secretsDir,
    LOG_LEVEL: 'warn',
  };
  for (const [entry, env] of [
    [API_ENTRY, { ...common, SUNSET_API_PORT: String(port), SUNSET_PLANS_DIR: plans.dir }],
    [
      WORKER_ENTRY,
      {
        ...common,
        ...sandboxes.env,
        SUNSET_FETCH_ALLOW: sandboxFetchAllow(sandboxes).join(','),
        SUNSET_LIMITS: 'x=1000/1s,bluesky=1000/1s,mastodon=1000/1s',
      },
    ],
  ] as const) {
    const service = startService(entry, env);
    service.child.on('exit', (code, signal) => {
      if (signal === null && code !== 0)
        process.stderr.write(`${entry} exited with ${code}:\n${service.output().slice(-4000)}\n`);
    });
    children.push(service.child);
  }
  await waitFor(
    'the API to be ready',
    async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
    60_000,
    200,
  );
}, 120_000);

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
  await redis?.cleanup();
  await t?.cleanup();
  plans?.remove();
  await sandboxes?.stop();
});

describe('retrying a failed delivery from the queue', () => {
  it('shows the failure with its reason, and publishes it once retried', async () => {
    // The instance takes 20 characters for now: longer statuses get its 422.
    sandboxes.mastodon.setLimits({ maxCharacters: 20 });
    const text = `Le marché de Noël ouvre samedi place Plumereau ${Date.now()}.`;
    const sent = await api('POST', '/v1/posts', { text, networks: ['bluesky', 'mastodon'] });
    expect(sent.status).toBe(202);
    const id = String(sent.json['id']);
    type Item = {
      key: string;
      networks: Record<
        string,
        { deliveryId: string; status: string; lastError?: string; retry: { allowed: boolean } }
      >;
    };
    let item: Item | undefined;
    await waitFor(
      'Mastodon failed and Bluesky published',
      async () => {
        const q = await api('GET', '/v1/queue');
        item = (q.json['items'] as Item[]).find((i) => i.key === `post:${id}`);
        return item?.networks['mastodon']?.status === 'failed';
      },
      60_000,
      200,
    );
    const mastodon = item!.networks['mastodon']!;
    expect(mastodon.retry).toEqual({ allowed: true });
    expect(mastodon.lastError).toMatch(/422|characters|long/i);

    sandboxes.mastodon.setLimits({ maxCharacters: 500 });
    const retried = await api('POST', `/v1/deliveries/${mastodon.deliveryId}/retry`);
    expect(retried.status).toBe(202);
    await waitFor(
      'the retried post on Mastodon',
      async () => {
        const s = await api('GET', `/v1/posts/${id}`);
        return (s.json['networks'] as Record<string, { status: string }>)['mastodon']?.status === 'published';
      },
      60_000,
      200,
    );
    expect((await postedTexts(sandboxes)).mastodon.filter((p) => p.includes('place Plumereau'))).toHaveLength(
      1,
    );
    const actions = (await t.store.audit.list({ organisationId: ORG, postId: id })).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['delivery.failed', 'delivery.retried', 'delivery.published']),
    );
  }, 150_000);
});

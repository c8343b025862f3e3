// X's economy as the API shows and steers it, with the worker runtime posting to the X fake: the
// state of X (paused for credits, the month's spend against the budget, the 24-hour caps), the
// admin's resume over HTTP once credits are bought, and the refusals around it; the operator's
// metrics say the same per organisation.
import { hashToken, mintToken, silentLogger } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import { buildApp, buildMetricsApp } from '@sunset/api';
import type { TokenRole } from '@sunset/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X_ACCOUNT } from '../support/accounts.ts';
import {
  iso,
  startEngine,
  startSandboxes,
  waitFor,
  ORG,
  type Sandboxes,
  type TestEngine,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let engine: TestEngine;
let app: Awaited<ReturnType<typeof buildApp>>;
const tokens: Partial<Record<TokenRole, string>> = {};

beforeAll(async () => {
  sandboxes = await startSandboxes();
  engine = await startEngine(sandboxes);
  app = await buildApp({
    store: engine.t.store,
    queues: engine.queues,
    logger: silentLogger(),
    plansDir: engine.plans.dir,
    metricsCacheMs: 0,
  });
  await app.ready();
});
afterAll(async () => {
  sandboxes?.x.setCredits(X_ACCOUNT.appKey, undefined);
  await app?.close();
  await engine?.close();
  await sandboxes?.stop();
});

async function tokenFor(role: TokenRole): Promise<string> {
  const existing = tokens[role];
  if (existing) return existing;
  const token = mintToken();
  await engine.t.store.tokens.create({
    id: `${role}-id`,
    organisationId: ORG,
    name: `${role}-person`,
    role,
    hash: hashToken(token),
    createdBy: 'cli:test',
  });
  tokens[role] = token;
  return token;
}

async function call(role: TokenRole, method: 'GET' | 'POST', url: string, payload?: object) {
  return app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${await tokenFor(role)}` },
    ...(payload ? { payload } : {}),
  });
}

interface XStatusReply {
  paused: boolean;
  pausedSince?: string;
  pausedReason?: string;
  held: number;
  month: { spent: number; budget?: number; reserve?: number; currency: string };
  window: {
    originals: number;
    replies: number;
    caps?: { posts: number; replies: number; crisisReserve: number };
    postsLeft?: number;
    ordinaryPostsLeft?: number;
    repliesLeft?: number;
  };
}

describe('X over the API', () => {
  it('shows X paused for credits with spend and caps, and an admin resumes it once credits are bought', async () => {
    const t0 = Date.now();
    const doc = engine.plans.document({
      sunset: iso(t0 + 30 * 24 * 3600_000),
      posts: [
        { id: 'api-one', at: iso(t0 + 1_000), on: ['x'], text: 'API (1) : le marché ouvre samedi.' },
        { id: 'api-two', at: iso(t0 + 3_000), on: ['x'], text: 'API (2) : la piscine ferme lundi.' },
      ],
    });
    const x = (doc['networks'] as { x: Record<string, unknown> }).x;
    x['budget'] = { monthly: 20, crisis_reserve: 5 };
    x['daily_caps'] = { posts: 50, replies: 200, crisis_reserve: 5 };
    await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: engine.plans.writeDocument(doc, 'api.yaml'),
      actor: 'cli:test',
    });

    // Nothing to resume yet: refused with its code, and only an admin may ask.
    const early = await call('admin', 'POST', '/v1/networks/x/resume');
    expect(early.statusCode).toBe(409);
    expect(early.json().error.code).toBe('x-not-paused');
    const notAdmin = await call('crisis', 'POST', '/v1/networks/x/resume');
    expect(notAdmin.statusCode).toBe(403);

    const delivery = (id: string) => engine.t.store.deliveries.get(`${ORG}.post.${id}.x`);
    await waitFor('the first post on X', async () => (await delivery('api-one'))?.status === 'published');
    sandboxes.x.setCredits(X_ACCOUNT.appKey, 0);
    await waitFor('the second held', async () => (await delivery('api-two'))?.status === 'needs-attention');

    const paused = await call('auditor', 'GET', '/v1/networks/x');
    expect(paused.statusCode).toBe(200);
    const state = paused.json<XStatusReply>();
    expect(state).toMatchObject({
      paused: true,
      pausedReason: "X credits exhausted: buy credits in X's developer console",
      held: 1,
      month: { spent: 0.015, budget: 20, reserve: 5, currency: 'USD' },
      window: {
        originals: 1,
        replies: 0,
        caps: { posts: 50, replies: 200, crisisReserve: 5 },
        postsLeft: 49,
        ordinaryPostsLeft: 44,
        repliesLeft: 200,
      },
    });
    expect(Date.parse(state.pausedSince ?? '')).toBeGreaterThanOrEqual(t0);

    // The operator's listener says it for every organisation.
    const operator = await buildMetricsApp(app.metrics, silentLogger());
    const scrape = async () => (await operator.inject({ url: '/metrics' })).body;
    try {
      const text = await scrape();
      expect(text).toContain(`sunset_x_spend_usd{organisation="${ORG}"} 0.015`);
      expect(text).toContain(`sunset_x_budget_usd{organisation="${ORG}",part="monthly"} 20`);
      expect(text).toContain(`sunset_x_budget_usd{organisation="${ORG}",part="crisis_reserve"} 5`);
      expect(text).toContain(`sunset_x_credits_exhausted{organisation="${ORG}"} 1`);
      expect(text).toContain(`sunset_x_held_deliveries{organisation="${ORG}"} 1`);
      expect(text).toContain(`sunset_x_posts_left{organisation="${ORG}",kind="posts"} 49`);
      expect(text).toContain(`sunset_x_posts_left{organisation="${ORG}",kind="ordinary_posts"} 44`);
      expect(text).toContain(`sunset_x_posts_left{organisation="${ORG}",kind="replies"} 200`);

      sandboxes.x.setCredits(X_ACCOUNT.appKey, 1);
      const resumed = await call('admin', 'POST', '/v1/networks/x/resume');
      expect(resumed.statusCode).toBe(200);
      expect(resumed.json()).toEqual({ wasPaused: true, requeued: 1 });
      await waitFor('the held post on X', async () => (await delivery('api-two'))?.status === 'published');
      const audit = await engine.t.store.audit.list({ organisationId: ORG, action: 'x.resumed' });
      expect(audit.map((e) => e.actor)).toEqual(['token:admin-person']);

      const after = (await call('editor', 'GET', '/v1/networks/x')).json<XStatusReply>();
      expect(after).toMatchObject({
        paused: false,
        held: 0,
        month: { spent: 0.03 },
        window: { originals: 2 },
      });
      expect(after.pausedSince).toBeUndefined();
      expect((await call('admin', 'POST', '/v1/networks/x/resume')).statusCode).toBe(409);
      expect(await scrape()).toContain(`sunset_x_credits_exhausted{organisation="${ORG}"} 0`);
    } finally {
      await operator.close();
    }
  });
});

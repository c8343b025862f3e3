// X's pay-per-use economy through the worker and the X fake: a 402 mid-plan pauses the ordinary
// X posts (held for a person, none sent), a crisis still tries X, says at once that X refused it
// for lack of credits and reaches Bluesky and Mastodon, and a resume once credits are bought sends
// the held posts; a budget whose crisis reserve the ordinary posts would eat holds them and still
// lets a crisis go; the account's daily cap holds ordinary originals back with the crisis reserve
// kept, and a crisis still goes. On SQLite and PostgreSQL.
import {
  applyPlan,
  OrgSettingsCache,
  postState,
  resumeX,
  submitPost,
  type PostsContext,
} from '@sunset/engine';
import { testDialects } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X_ACCOUNT } from '../support/accounts.ts';
import {
  iso,
  postedTexts,
  startEngine,
  sandboxesForFile,
  waitFor,
  ORG,
  type TestEngine,
} from '../support/exit-harness.ts';

const sandboxes = sandboxesForFile();

const SUNSET = Date.now() + 30 * 24 * 3600_000;

async function statusOf(engine: TestEngine, postId: string, network: 'x' | 'bluesky' | 'mastodon') {
  const [d] = await engine.t.store.deliveries.list({ organisationId: ORG, postId, network });
  return d;
}

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(`X credits run out mid-plan, on ${dialect}`, () => {
    let engine: TestEngine;
    let ctx: PostsContext;

    beforeAll(async () => {
      engine = await startEngine(sandboxes, { dialect });
      ctx = { store: engine.t.store, queues: engine.queues, settings: new OrgSettingsCache(engine.t.store) };
    });
    afterAll(async () => {
      sandboxes.x.setCredits(X_ACCOUNT.appKey, undefined);
      await engine?.close();
    });

    it('pauses ordinary X posts, reports the crisis refused on X and carried elsewhere, and resumes', async () => {
      const t0 = Date.now();
      const before = sandboxes.x.received.filter((r) => r.path === '/2/tweets' && r.status === 402).length;
      const refusals = () =>
        sandboxes.x.received.filter((r) => r.path === '/2/tweets' && r.status === 402).length - before;
      const doc = engine.plans.document({
        sunset: iso(SUNSET),
        posts: [
          {
            id: 'cr-one',
            at: iso(t0 + 1_000),
            on: ['x'],
            text: `Crédits (1) : le marché ouvre samedi (${dialect}).`,
          },
          {
            id: 'cr-two',
            at: iso(t0 + 4_000),
            on: ['x'],
            text: `Crédits (2) : la piscine ferme lundi (${dialect}).`,
          },
          {
            id: 'cr-three',
            at: iso(t0 + 6_000),
            on: ['x'],
            text: `Crédits (3) : collecte des sapins (${dialect}).`,
          },
        ],
      });
      doc['crisis'] = { on: ['x', 'bluesky', 'mastodon'] };
      await applyPlan({
        store: engine.t.store,
        queues: engine.queues,
        plan: engine.plans.writeDocument(doc, `credits-${dialect}.yaml`),
        actor: 'cli:test',
      });
      const delivery = (id: string) => engine.t.store.deliveries.get(`${ORG}.post.${id}.x`);
      await waitFor('the first post on X', async () => (await delivery('cr-one'))?.status === 'published');
      // The credits run out: X answers 402 from now on.
      sandboxes.x.setCredits(X_ACCOUNT.appKey, 0);
      await waitFor(
        'the second post to be held',
        async () => (await delivery('cr-two'))?.status === 'needs-attention',
      );
      expect((await delivery('cr-two'))?.lastError).toMatch(
        /^X credits exhausted: buy credits in X's developer console/,
      );
      await waitFor(
        'the third post to be held',
        async () => (await delivery('cr-three'))?.status === 'needs-attention',
      );
      // Paused: the third never reached X (one 402, the second's).
      expect(refusals()).toBe(1);
      expect((await delivery('cr-three'))?.lastError).toMatch(/X is paused since .*credits exhausted/);
      const audit = await engine.t.store.audit.list({ organisationId: ORG });
      expect(audit.map((e) => e.action)).toContain('x.paused');

      // A crisis still tries X, and its state says at once why X has not got it.
      const crisis = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Crue : la route des berges est fermée (${dialect}).`,
        actor: 'token:duty',
      });
      await waitFor('the crisis on every network', async () => {
        const s = await postState(engine.t.store, ORG, crisis.postId);
        return (
          s?.networks.x?.status === 'needs-attention' &&
          s.networks.bluesky?.status === 'published' &&
          s.networks.mastodon?.status === 'published'
        );
      });
      const state = await postState(engine.t.store, ORG, crisis.postId);
      expect(state?.networks.x?.note).toBe(
        'X: credits exhausted — X refused this post for lack of credits; carried by Bluesky and Mastodon',
      );
      expect(refusals()).toBe(2);
      const texts = await postedTexts(sandboxes);
      expect(texts.bluesky.some((t) => t.includes(`route des berges est fermée (${dialect})`))).toBe(true);

      // Credits bought, the operator resumes: the held posts go, once each.
      sandboxes.x.setCredits(X_ACCOUNT.appKey, 1);
      const result = await resumeX({
        store: engine.t.store,
        queues: engine.queues,
        organisationId: ORG,
        actor: 'cli:test',
      });
      expect(result).toEqual({ wasPaused: true, requeued: 2 });
      await waitFor('the held posts on X', async () =>
        ['cr-two', 'cr-three'].every((id) =>
          sandboxes.x.posts.some(
            (p) =>
              p.text.startsWith(`Crédits (${id === 'cr-two' ? 2 : 3})`) && p.text.includes(`(${dialect})`),
          ),
        ),
      );
      await waitFor('the held deliveries published', async () =>
        (await Promise.all(['cr-two', 'cr-three'].map(delivery))).every((d) => d?.status === 'published'),
      );
      expect(
        sandboxes.x.posts.filter((p) => p.text.startsWith('Crédits (') && p.text.includes(`(${dialect})`)),
      ).toHaveLength(3);
      expect(await engine.t.store.xSpend.holds(ORG)).toEqual([]);
      expect((await statusOf(engine, crisis.postId, 'x'))?.status).toBe('needs-attention');
    });
  });

  describe.skipIf(skip !== undefined)(`the crisis reserve of the X budget, on ${dialect}`, () => {
    let engine: TestEngine;
    let ctx: PostsContext;

    beforeAll(async () => {
      engine = await startEngine(sandboxes, { dialect });
      ctx = { store: engine.t.store, queues: engine.queues, settings: new OrgSettingsCache(engine.t.store) };
    });
    afterAll(async () => {
      await engine?.close();
    });

    it('holds the ordinary posts that would eat the reserve and still sends a crisis', async () => {
      const t0 = Date.now();
      const doc = engine.plans.document({
        sunset: iso(SUNSET),
        posts: [
          {
            id: 'bu-one',
            at: iso(t0 + 1_000),
            on: ['x'],
            text: `Budget (1) : conseil municipal jeudi (${dialect}).`,
          },
          {
            id: 'bu-two',
            at: iso(t0 + 3_000),
            on: ['x'],
            text: `Budget (2) : travaux rue Nationale (${dialect}).`,
          },
        ],
      });
      const networks = doc['networks'] as { x: Record<string, unknown> };
      // $0.05 a month, $0.03 of it for crises: one ordinary post ($0.015) fits, the second would dip in.
      networks.x['budget'] = { monthly: 0.05, crisis_reserve: 0.03 };
      doc['crisis'] = { on: ['x', 'bluesky', 'mastodon'] };
      await applyPlan({
        store: engine.t.store,
        queues: engine.queues,
        plan: engine.plans.writeDocument(doc, `budget-${dialect}.yaml`),
        actor: 'cli:test',
      });
      const delivery = (id: string) => engine.t.store.deliveries.get(`${ORG}.post.${id}.x`);
      await waitFor('the first post', async () => (await delivery('bu-one'))?.status === 'published');
      await waitFor('the second held', async () => (await delivery('bu-two'))?.status === 'needs-attention');
      expect((await delivery('bu-two'))?.lastError).toBe(
        'held: this X post costs $0.015 and would dip into the crisis reserve ($0.015 of the $0.05 monthly budget spent, $0.03 kept for crises)',
      );
      expect(sandboxes.x.posts.some((p) => p.text.startsWith('Budget (2)') && p.text.includes(dialect))).toBe(
        false,
      );
      const audit = await engine.t.store.audit.list({ organisationId: ORG });
      expect(
        audit.find((e) => e.action === 'delivery.needs-attention' && e.deliveryId === `${ORG}.post.bu-two.x`),
      ).toBeDefined();

      const crisis = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Budget : alerte canicule, les salles fraîches sont ouvertes (${dialect}).`,
        actor: 'token:duty',
      });
      await waitFor(
        'the crisis on X',
        async () => (await statusOf(engine, crisis.postId, 'x'))?.status === 'published',
      );
      expect(await engine.t.store.xSpend.spentSince(ORG, new Date(t0 - 60_000))).toBe(30_000);
    });
  });

  describe.skipIf(skip !== undefined)(`the daily cap of the X account, on ${dialect}`, () => {
    let engine: TestEngine;
    let ctx: PostsContext;

    beforeAll(async () => {
      engine = await startEngine(sandboxes, { dialect });
      ctx = { store: engine.t.store, queues: engine.queues, settings: new OrgSettingsCache(engine.t.store) };
    });
    afterAll(async () => {
      await engine?.close();
    });

    it('holds ordinary originals back when only the crisis reserve is left, and still sends a crisis', async () => {
      const t0 = Date.now();
      const doc = engine.plans.document({
        sunset: iso(SUNSET),
        posts: [
          {
            id: 'dc-one',
            at: iso(t0 + 1_000),
            on: ['x'],
            text: `Plafond (1) : vide-grenier dimanche (${dialect}).`,
          },
          {
            id: 'dc-two',
            at: iso(t0 + 1_500),
            on: ['x'],
            text: `Plafond (2) : la médiathèque rouvre (${dialect}).`,
          },
          {
            id: 'dc-three',
            at: iso(t0 + 3_000),
            on: ['x'],
            text: `Plafond (3) : marché de Noël (${dialect}).`,
          },
        ],
      });
      // Three originals a day, one of them kept for crises: two ordinary posts go, the third waits.
      const networks = doc['networks'] as { x: Record<string, unknown> };
      networks.x['daily_caps'] = { posts: 3, replies: 200, crisis_reserve: 1 };
      doc['crisis'] = { on: ['x', 'bluesky', 'mastodon'] };
      await applyPlan({
        store: engine.t.store,
        queues: engine.queues,
        plan: engine.plans.writeDocument(doc, `caps-${dialect}.yaml`),
        actor: 'cli:test',
      });
      const delivery = (id: string) => engine.t.store.deliveries.get(`${ORG}.post.${id}.x`);
      const onX = (n: number) =>
        sandboxes.x.posts.some((p) => p.text.startsWith(`Plafond (${n})`) && p.text.includes(`(${dialect})`));
      await waitFor('the first two on X', async () =>
        (await Promise.all(['dc-one', 'dc-two'].map(delivery))).every((d) => d?.status === 'published'),
      );
      await waitFor(
        'the third held for the window',
        async () => (await delivery('dc-three'))?.lastError?.startsWith('X daily cap') === true,
      );
      const third = await delivery('dc-three');
      // Waiting for the window, not needing a person: still queued, no attempt spent on X.
      expect(third?.status).toBe('queued');
      expect(third?.lastError).toMatch(
        /^X daily cap: 2 original posts in 24 hours \(1 more kept for crises\); waiting until \d{4}-/,
      );
      const until = Date.parse(/waiting until (\S+)$/.exec(third?.lastError ?? '')?.[1] ?? '');
      expect(until).toBeGreaterThan(t0 + 23 * 3600_000);
      expect(onX(3)).toBe(false);
      const held = await engine.t.store.audit.list({ organisationId: ORG, action: 'delivery.held' });
      expect(held.map((e) => e.deliveryId)).toContain(`${ORG}.post.dc-three.x`);

      // The reserved original is the crisis's.
      const crisis = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Plafond : alerte orages, évitez les parcs (${dialect}).`,
        actor: 'token:duty',
      });
      await waitFor(
        'the crisis on X',
        async () => (await statusOf(engine, crisis.postId, 'x'))?.status === 'published',
      );
      expect(
        sandboxes.x.posts.some((p) => p.text.includes(`alerte orages, évitez les parcs (${dialect})`)),
      ).toBe(true);
      expect(await engine.t.store.xSpend.postsSince(ORG, new Date(t0 - 60_000))).toMatchObject({
        originals: 3,
        replies: 0,
      });
      expect(onX(3)).toBe(false);
      expect((await delivery('dc-three'))?.status).toBe('queued');
    });
  });
}

// X's "outcome unknown" mark, end to end: on PostgreSQL the claim itself marks the part an X
// attempt is about to send (one statement fewer before each X post), so an attempt that stops
// before sending must take the mark back, or the next attempt would search X for a post that was
// never sent (and, where X does not let the account read its posts, stop for a person to check).
// Here a crisis update waits for its original, which X holds on the wire: its first attempts stop
// before sending, and it must then land once, under the original, with X never searched.
// When a post's outcome is lost, the search reads only the posts after the last one known (X
// bills every post read), in small pages, and what it read is counted in the month's spend.
import { applyPlan, costOf, OrgSettingsCache, submitPost, type PostsContext } from '@sunset/engine';
import { testDialects } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  startEngine,
  sandboxesForFile,
  waitFor,
  ORG,
  type TestEngine,
} from '../support/exit-harness.ts';

const sandboxes = sandboxesForFile();

const TIMELINE = /^\/2\/users\/[^/]+\/tweets$/;

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(`X's outcome-unknown mark, on ${dialect}`, () => {
    let engine: TestEngine;
    let ctx: PostsContext;

    beforeAll(async () => {
      engine = await startEngine(sandboxes, { dialect, runtime: { concurrency: 2, crisisConcurrency: 2 } });
      const doc = engine.plans.document({ sunset: iso(Date.now() + 30 * 24 * 3600_000), posts: [] });
      doc['crisis'] = { on: ['x'] };
      await applyPlan({
        store: engine.t.store,
        queues: engine.queues,
        plan: engine.plans.writeDocument(doc, `x-outcome-${dialect}.yaml`),
        actor: 'cli:test',
      });
      ctx = { store: engine.t.store, queues: engine.queues, settings: new OrgSettingsCache(engine.t.store) };
    });
    afterAll(async () => {
      sandboxes.x.clearFaults();
      await engine?.close();
    });

    it('lands an update that waited for its original once, under it, without searching X', async () => {
      const from = sandboxes.x.received.length;
      const tag = `wait-${dialect}`;
      // The original is held 3 s on the wire: the update's attempts meanwhile stop before sending.
      sandboxes.x.inject({ kind: 'latency', ms: 3_000 }, { path: '/2/tweets', method: 'POST', times: 1 });
      const original = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Inondation (${tag}) : la route des berges est fermée.`,
        actor: 'token:duty',
      });
      const update = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Mise à jour (${tag}) : la route des berges rouvre à 18 h.`,
        replyToPostId: original.postId,
        actor: 'token:duty',
      });
      const [updateDelivery] = update.deliveries;
      await waitFor(
        'the update to be published',
        async () => (await engine.t.store.deliveries.get(updateDelivery!.deliveryId))?.status === 'published',
        30_000,
      );
      const done = await engine.t.store.deliveries.get(updateDelivery!.deliveryId);
      // It waited: more than one attempt, the ones before the last stopped before sending.
      expect(done?.attempts).toBeGreaterThan(1);
      const landed = sandboxes.x.posts.filter(
        (p) => p.text.includes(`rouvre à 18 h`) && p.text.includes(tag),
      );
      expect(landed).toHaveLength(1);
      const [originalDelivery] = await engine.t.store.deliveries.list({
        organisationId: ORG,
        postId: original.postId,
        network: 'x',
      });
      expect(landed[0]?.inReplyToId).toBe(originalDelivery?.remoteId);
      const searches = sandboxes.x.received.slice(from).filter((r) => TIMELINE.test(r.path));
      expect(searches.map((r) => `${r.method} ${r.path}`)).toEqual([]);
      expect(done?.parts.map((p) => p.outcomeUnknown)).toEqual([false]);
    });

    /** What X billed for the reads after `from`: each post returned, and each user read. */
    const readCost = (from: number) => {
      const after = sandboxes.x.received.slice(from).filter((r) => r.status === 200);
      const posts = after
        .filter((r) => TIMELINE.test(r.path))
        .reduce((n, r) => n + ((r.responseBody as { data?: unknown[] }).data?.length ?? 0), 0);
      const users = after.filter((r) => r.path === '/2/users/me').length;
      return costOf({ kind: 'read_post', count: posts }) + costOf({ kind: 'read_user', count: users });
    };
    const createCost = (tag: string) =>
      sandboxes.x.posts
        .filter((p) => p.text.includes(tag))
        .reduce((sum, p) => sum + costOf({ kind: 'create', text: p.text }), 0);

    it('after a lost answer, reads only the posts after the one the update answers, and counts the read', async () => {
      const tag = `since-${dialect}`;
      const spentBefore = await engine.t.store.xSpend.spentSince(ORG, new Date(0));
      const original = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Canicule (${tag}) : les salles fraîches sont ouvertes.`,
        actor: 'token:duty',
      });
      const originalX = async () =>
        (
          await engine.t.store.deliveries.list({ organisationId: ORG, postId: original.postId, network: 'x' })
        )[0];
      await waitFor('the original on X', async () => (await originalX())?.status === 'published');
      const from = sandboxes.x.received.length;
      // X creates the update and the answer is lost on the way back: its outcome is unknown.
      sandboxes.x.inject({ kind: 'lost-reply' }, { path: '/2/tweets', method: 'POST', times: 1 });
      const update = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Canicule, suite (${tag}) : horaires élargis ce week-end.`,
        replyToPostId: original.postId,
        actor: 'token:duty',
      });
      const updateId = update.deliveries[0]!.deliveryId;
      await waitFor(
        'the update found on X',
        async () => (await engine.t.store.deliveries.get(updateId))?.status === 'published',
        30_000,
      );
      expect(sandboxes.x.posts.filter((p) => p.text.includes(`suite (${tag})`))).toHaveLength(1);
      const searches = sandboxes.x.received.slice(from).filter((r) => TIMELINE.test(r.path));
      // One small page after the original: the update is the only post X returns.
      expect(searches.map((r) => [r.query['since_id'], r.query['max_results']])).toEqual([
        [(await originalX())?.remoteId, '5'],
      ]);
      expect((searches[0]?.responseBody as { data: unknown[] }).data).toHaveLength(1);
      const spent = (await engine.t.store.xSpend.spentSince(ORG, new Date(0))) - spentBefore;
      expect(spent).toBe(createCost(tag) + readCost(from));
      expect(readCost(from)).toBeGreaterThanOrEqual(5_000);
    });

    it('after a lost answer, reads only the posts after the newest one the store knows of', async () => {
      const tag = `store-${dialect}`;
      const t0 = Date.now();
      const doc = engine.plans.document({
        sunset: iso(t0 + 30 * 24 * 3600_000),
        posts: [
          {
            id: `a-${tag}`,
            at: iso(t0 + 1_000),
            on: ['x'],
            text: `Travaux (${tag}) : rue Colbert fermée lundi.`,
          },
          // Due well after the first lands: the first is known to be older than anything it sends.
          {
            id: `b-${tag}`,
            at: iso(t0 + 10_000),
            on: ['x'],
            text: `Travaux (${tag}) : déviation par le quai.`,
          },
        ],
      });
      doc['crisis'] = { on: ['x'] };
      await applyPlan({
        store: engine.t.store,
        queues: engine.queues,
        plan: engine.plans.writeDocument(doc, `x-outcome-store-${dialect}.yaml`),
        actor: 'cli:test',
      });
      const delivery = (id: string) => engine.t.store.deliveries.get(`${ORG}.post.${id}.x`);
      await waitFor('the first on X', async () => (await delivery(`a-${tag}`))?.status === 'published');
      const from = sandboxes.x.received.length;
      sandboxes.x.inject({ kind: 'lost-reply' }, { path: '/2/tweets', method: 'POST', times: 1 });
      await waitFor(
        'the second found on X',
        async () => (await delivery(`b-${tag}`))?.status === 'published',
        30_000,
      );
      expect(
        sandboxes.x.posts.filter((p) => p.text.includes(`déviation par le quai`) && p.text.includes(tag)),
      ).toHaveLength(1);
      const searches = sandboxes.x.received.slice(from).filter((r) => TIMELINE.test(r.path));
      expect(searches.map((r) => [r.query['since_id'], r.query['max_results']])).toEqual([
        [(await delivery(`a-${tag}`))?.remoteId, '5'],
      ]);
      expect((await delivery(`b-${tag}`))?.remoteId).toBe(
        (searches[0]?.responseBody as { data: { id: string }[] }).data[0]?.id,
      );
    });

    /**
     * A CAP alert to X whose answer is lost (X created it) and whose X timeline fails until the
     * alert has expired, so that the attempt that looks for it comes after the expiry; `then`
     * sets X as that attempt will find it. Its delivery once it ended.
     */
    async function lostThenExpired(tag: string, then: () => void) {
      // Expires on the next whole second but two (CAP times have no fractions).
      const expiresMs = Math.ceil((Date.now() + 1_000) / 1000) * 1000 + 2_000;
      const expires = new Date(expiresMs).toISOString().replace('.000Z', '+00:00');
      const from = sandboxes.x.received.length;
      sandboxes.x.inject({ kind: 'lost-reply' }, { path: '/2/tweets', method: 'POST', times: 1 });
      sandboxes.x.inject({ kind: 'status', status: 503 }, { path: TIMELINE, method: 'GET', times: Infinity });
      let deliveryId: string;
      try {
        const r = await submitPost(ctx, {
          organisationId: ORG,
          source: 'crisis',
          text: `Orages (${tag}) : restez à l’abri jusqu’à 18 h.`,
          networks: ['x'],
          cap: {
            identifier: `expiring-${tag}`,
            sender: 'alerte@ville.test',
            sent: new Date().toISOString().replace(/\.\d{3}Z$/, '+00:00'),
            status: 'Actual',
            msgType: 'Alert',
            expires,
          },
          actor: 'token:duty',
        });
        deliveryId = r.deliveries[0]!.deliveryId;
        await waitFor(
          'the lost answer, a search X refused, and the alert expired',
          () =>
            Date.now() > expiresMs + 100 &&
            sandboxes.x.received.slice(from).some((q) => TIMELINE.test(q.path) && q.status === 503),
          30_000,
        );
      } finally {
        sandboxes.x.clearFaults();
        then();
      }
      await waitFor(
        'the delivery to end',
        async () =>
          !['queued', 'sending'].includes((await engine.t.store.deliveries.get(deliveryId))?.status ?? ''),
        60_000,
      );
      return (await engine.t.store.deliveries.get(deliveryId))!;
    }

    it('records as published a CAP alert that X took though its answer was lost, when it expired before the retry', async () => {
      const tag = `expired-${dialect}`;
      const delivery = await lostThenExpired(tag, () => undefined);
      const onX = sandboxes.x.posts.filter((p) => p.text.includes(tag));
      expect(onX).toHaveLength(1);
      // What is on X is on record: not "skipped, not posted".
      expect(delivery).toMatchObject({ status: 'published', remoteId: onX[0]!.id });
    });

    it('asks a person to look on X when the expired alert may be there and X will not say', async () => {
      const tag = `expired-unread-${dialect}`;
      // A tier whose timeline cannot be read: X answers 403 client-forbidden to the search.
      let delivery;
      try {
        delivery = await lostThenExpired(tag, () => (sandboxes.x.timelineApi = 'forbidden'));
      } finally {
        sandboxes.x.timelineApi = 'allowed';
      }
      expect(sandboxes.x.posts.filter((p) => p.text.includes(tag))).toHaveLength(1);
      expect(delivery.status).toBe('needs-attention');
      const [entry] = await engine.t.store.audit.list({
        organisationId: ORG,
        action: 'delivery.needs-attention',
        postId: delivery.postId!,
      });
      expect(JSON.stringify(entry?.details)).toMatch(
        /the CAP alert expired at .* before this was posted: not posted; but an earlier attempt may have posted this on X, and X does not let this account read its posts/,
      );
      expect(JSON.stringify(entry?.details)).toContain('answer it with the end of the alert');
    });
  });
}

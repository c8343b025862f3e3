// X's "outcome unknown" mark, end to end: on PostgreSQL the claim itself marks the part an X
// attempt is about to send (one statement fewer before each X post), so an attempt that stops
// before sending must take the mark back, or the next attempt would search X for a post that was
// never sent (and, where X does not let the account read its posts, stop for a person to check).
// Here a crisis update waits for its original, which X holds on the wire: its first attempts stop
// before sending, and it must then land once, under the original, with X never searched.
import { applyPlan, OrgSettingsCache, submitPost, type PostsContext } from '@sunset/engine';
import { testDialects } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
beforeAll(async () => {
  sandboxes = await startSandboxes();
});
afterAll(async () => {
  await sandboxes?.stop();
});

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
  });
}

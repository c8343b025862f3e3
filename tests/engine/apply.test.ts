// Plan re-apply against a real store and Redis (no worker): what the diff says is what the store
// and the queues hold afterwards. A changed delivery gets its new content and a new job (the old
// one gone), a failed one is tried again, a removed one is cancelled with its job, one a worker
// holds is left alone, one back in the plan is queued again; an unchanged plan writes no version.
import { applyPlan } from '@sunset/engine';
import type { Plan } from '@sunset/plan';
import { createRedis, Queues } from '@sunset/queue';
import { openTestStore, testDialects, type TestStore } from '@sunset/store/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  ORG,
  PlanFolder,
  sandboxesForFile,
  testRedis,
  type PlanPost,
  type TestRedis,
} from '../support/exit-harness.ts';

const sandboxes = sandboxesForFile();

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(`plan re-apply, on ${dialect}`, () => {
    let t: TestStore;
    let redis: TestRedis;
    let producer: Redis;
    let queues: Queues;
    let plans: PlanFolder;

    beforeAll(async () => {
      t = await openTestStore(dialect);
      redis = testRedis();
      producer = createRedis(redis.url, { role: 'producer' });
      await new Promise((r) => producer.once('ready', r));
      queues = new Queues({ connection: producer, prefix: redis.prefix });
      plans = new PlanFolder(sandboxes);
    });
    afterAll(async () => {
      await queues?.close();
      producer?.disconnect();
      await redis?.cleanup();
      await t?.cleanup();
      plans?.remove();
    });

    it('moves in the store and in Redis exactly what the diff says', async () => {
      const sunset = iso(Date.now() + 30 * 24 * 3600_000);
      const due = Math.floor(Date.now() / 1000) * 1000 + 24 * 3600_000;
      const post = (
        id: string,
        text = `Post ${id} : retrouvez-nous sur Bluesky.`,
        at = iso(due),
      ): PlanPost => ({
        id,
        at,
        on: ['x', 'bluesky'],
        text,
      });
      const v1 = ['a', 'b', 'c', 'd', 'e'].map((id) => post(id));
      const apply = (plan: Plan) => applyPlan({ store: t.store, queues, plan, actor: 'cli:test' });
      const get = async (id: string) => (await t.store.deliveries.get(`${ORG}.post.${id}`))!;
      const jobState = async (id: string) => {
        const d = await get(id);
        return queues.jobState(d.network, d.jobId, 'ordinary');
      };

      const first = await apply(plans.write({ sunset, posts: v1 }, 'v1.yaml'));
      expect(first.counts).toEqual({ '+': 11, '~': 0, '-': 0, '=': 0, '✓': 0 });
      expect(first.queueError).toBeUndefined();
      for (const id of ['a.x', 'c.bluesky', 'e.x']) expect(await jobState(id)).toBe('delayed');

      // a worker tried a.x and gave up; another has just taken b.x.
      await t.store.deliveries.finish(`${ORG}.post.a.x`, 'failed', { lastError: 'HTTP 500' });
      const bx = await get('b.x');
      expect(await t.store.deliveries.claim(bx.id, bx.jobId, { owner: 'test', ttlMs: 60_000 })).toBeDefined();
      const old = { ax: await get('a.x'), abluesky: await get('a.bluesky'), cx: await get('c.x') };

      const v2 = [
        post('a', 'Post a, corrigé.'),
        post('b', 'Post b, corrigé.'),
        post('d', undefined, iso(due + 3600_000)),
        post('e'),
      ];
      const second = await apply(plans.write({ sunset, posts: v2 }, 'v2.yaml'));
      expect(second.counts).toEqual({ '+': 0, '~': 5, '-': 2, '=': 3, '✓': 1 });
      expect(second.version).toBe(2);
      const mark = (id: string) => second.diff.find((e) => e.deliveryId === `${ORG}.post.${id}`);
      expect(mark('a.x')).toMatchObject({ mark: '~', status: 'failed' });
      expect(mark('b.x')).toMatchObject({ mark: '✓', status: 'sending' });
      expect(mark('d.bluesky')).toMatchObject({ mark: '~', reason: 'time changed' });
      expect(mark('c.x')).toMatchObject({ mark: '-', parts: 1 });

      const ax = await get('a.x');
      expect(ax).toMatchObject({ status: 'queued', planVersion: 2, jobId: `${ORG}.post.a.x.g2` });
      expect(ax.parts.map((p) => p.text)).toEqual(['Post a, corrigé.']);
      expect(ax.contentHash).not.toBe(old.ax.contentHash);
      expect(await jobState('a.x')).toBe('delayed');
      expect(await queues.jobState('x', old.ax.jobId, 'ordinary')).toBeUndefined();
      expect(await queues.jobState('bluesky', old.abluesky.jobId, 'ordinary')).toBeUndefined();
      expect(await jobState('a.bluesky')).toBe('delayed');
      expect((await get('d.x')).dueAt.toISOString()).toBe(new Date(due + 3600_000).toISOString());
      expect(await get('b.x')).toMatchObject({ status: 'sending', jobId: bx.jobId });
      expect((await get('b.x')).parts.map((p) => p.text)).toEqual([v1[1]!.text]);
      expect(await get('c.x')).toMatchObject({ status: 'cancelled', jobId: old.cx.jobId });
      expect(await jobState('c.x')).toBeUndefined();
      expect(await jobState('c.bluesky')).toBeUndefined();
      expect(await get('e.x')).toMatchObject({ planVersion: 1, jobId: `${ORG}.post.e.x.g1` });
      // Every delivery still due has its one job: 11 less c's two, b.x's still there.
      const depths = await queues.depths();
      expect((depths.x['delayed'] ?? 0) + (depths.bluesky['delayed'] ?? 0)).toBe(9);

      // c is back in the plan: queued again, with a new job.
      const third = await apply(plans.write({ sunset, posts: [...v2, post('c')] }, 'v3.yaml'));
      expect(third.counts).toEqual({ '+': 2, '~': 0, '-': 0, '=': 8, '✓': 1 });
      expect(third.diff.find((e) => e.deliveryId === `${ORG}.post.c.x`)).toMatchObject({
        mark: '+',
        reason: 'back in the plan',
      });
      expect(await get('c.x')).toMatchObject({
        status: 'queued',
        jobId: `${ORG}.post.c.x.g2`,
        planVersion: 3,
      });
      expect(await jobState('c.x')).toBe('delayed');

      // The same plan again: no version, one audit entry, nothing in Redis touched.
      const head = await t.store.audit.head();
      const same = await apply(plans.write({ sunset, posts: [...v2, post('c')] }, 'v3.yaml'));
      expect(same.version).toBeUndefined();
      expect(same.counts).toEqual({ '+': 0, '~': 0, '-': 0, '=': 10, '✓': 1 });
      expect((await t.store.plans.latestHead(ORG))?.version).toBe(3);
      const entries = await t.store.audit.list({ afterSeq: head.seq });
      expect(entries.map((e) => e.action)).toEqual(['plan.reapplied']);
      const after = await queues.depths();
      expect((after.x['delayed'] ?? 0) + (after.bluesky['delayed'] ?? 0)).toBe(11);

      const applied = await t.store.audit.list({ organisationId: ORG, action: 'plan.applied' });
      expect(applied.map((e) => (e.details as { counts: unknown }).counts)).toEqual([
        first.counts,
        second.counts,
        third.counts,
      ]);
      expect((await t.store.verifyAudit()).ok).toBe(true);
    });
  });
}

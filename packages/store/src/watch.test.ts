// The worker's watch: follower counts over time, identity check runs, and the periodic tasks'
// leases, the same cases on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, testDialects, type TestStore } from './testing/index.ts';

const dialects = await testDialects();

for (const { dialect, skip } of dialects) {
  describe.skipIf(skip !== undefined)(`the watch on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await openTestStore(dialect);
      await t.store.organisations.ensure({ id: 'org-a', name: 'A' });
      await t.store.organisations.ensure({ id: 'org-b', name: 'B' });
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('lets one worker at a time run a task, and only when it is due', async () => {
      const task = { organisationId: 'org-a', task: 'followers:x' };
      expect(await t.store.watch.claim({ ...task, owner: 'w1', leaseMs: 60_000 })).toMatchObject(task);
      expect(await t.store.watch.claim({ ...task, owner: 'w2', leaseMs: 60_000 })).toBeUndefined();
      const next = new Date(Date.now() + 86_400_000);
      expect(await t.store.watch.finish('org-a', 'followers:x', 'w2', { status: 'ok', nextAt: next })).toBe(
        false,
      );
      expect(
        await t.store.watch.finish('org-a', 'followers:x', 'w1', {
          status: 'skipped',
          message: 'budget',
          nextAt: next,
        }),
      ).toBe(true);
      expect(await t.store.watch.claim({ ...task, owner: 'w2', leaseMs: 60_000 })).toBeUndefined();
      const [state] = await t.store.watch.tasks('org-a');
      expect(state).toMatchObject({ task: 'followers:x', status: 'skipped', message: 'budget' });
      expect(state?.nextAt?.getTime()).toBe(next.getTime());
      // A holder that died: its lease runs out and another worker takes the task.
      expect(
        await t.store.watch.claim({ organisationId: 'org-b', task: 'identity', owner: 'w1', leaseMs: 0 }),
      ).toBeDefined();
      expect(
        await t.store.watch.claim({
          organisationId: 'org-b',
          task: 'identity',
          owner: 'w2',
          leaseMs: 60_000,
        }),
      ).toBeDefined();
    });

    it('keeps follower counts over time, and tells the newest per network', async () => {
      await t.store.watch.recordFollowers({ organisationId: 'org-a', network: 'x', count: 1200 });
      await new Promise((r) => setTimeout(r, 5));
      await t.store.watch.recordFollowers({ organisationId: 'org-a', network: 'bluesky', count: 3 });
      await new Promise((r) => setTimeout(r, 5));
      await t.store.watch.recordFollowers({ organisationId: 'org-a', network: 'bluesky', count: 5 });
      await t.store.watch.recordFollowers({ organisationId: 'org-b', network: 'mastodon', count: 7 });
      const history = await t.store.watch.followers('org-a');
      expect(history.map((h) => [h.network, h.count])).toEqual([
        ['x', 1200],
        ['bluesky', 3],
        ['bluesky', 5],
      ]);
      const latest = await t.store.watch.latestFollowers();
      expect(latest.map((h) => [h.organisationId, h.network, h.count])).toEqual([
        ['org-a', 'bluesky', 5],
        ['org-a', 'x', 1200],
        ['org-b', 'mastodon', 7],
      ]);
      expect(await t.store.watch.followers('org-a', { since: new Date(Date.now() + 60_000) })).toEqual([]);
    });

    it('keeps the identity checks’ runs, newest first', async () => {
      await t.store.watch.recordIdentityCheck({
        organisationId: 'org-a',
        failed: 0,
        results: [{ check: 'bluesky-domain', status: 'ok' }],
      });
      await new Promise((r) => setTimeout(r, 5));
      const run = await t.store.watch.recordIdentityCheck({
        organisationId: 'org-a',
        failed: 1,
        results: [{ check: 'x-profile', status: 'failed' }],
      });
      const runs = await t.store.watch.identityChecks('org-a');
      expect(runs.map((r) => r.failed)).toEqual([1, 0]);
      expect(runs[0]).toEqual(run);
      expect(await t.store.watch.identityChecks('org-b')).toEqual([]);
    });
  });
}

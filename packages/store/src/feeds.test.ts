// CAP feeds' state and the alerts seen in them, the same cases on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, testDialects, type TestStore } from './testing/index.ts';

const dialects = await testDialects();

for (const { dialect, skip } of dialects) {
  describe.skipIf(skip !== undefined)(`CAP feeds on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await openTestStore(dialect);
      await t.store.organisations.ensure({ id: 'org-a', name: 'A' });
      await t.store.organisations.ensure({ id: 'org-b', name: 'B' });
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('lets one worker at a time hold a feed, and only when it is due', async () => {
      const feed = { organisationId: 'org-a', feedId: 'f1', url: 'https://feeds.example/a' };
      const first = await t.store.feeds.claim({ ...feed, owner: 'w1', leaseMs: 60_000 });
      expect(first).toMatchObject({ url: 'https://feeds.example/a', errors: 0 });
      expect(await t.store.feeds.claim({ ...feed, owner: 'w2', leaseMs: 60_000 })).toBeUndefined();
      // Only the holder records the outcome.
      const next = new Date(Date.now() + 60_000);
      expect(
        await t.store.feeds.finish('org-a', 'f1', 'w2', { status: 'ok', errors: 0, nextPollAt: next }),
      ).toBe(false);
      expect(
        await t.store.feeds.finish('org-a', 'f1', 'w1', {
          status: 'ok',
          etag: '"v1"',
          lastModified: 'Tue, 01 Dec 2026 07:00:00 GMT',
          errors: 0,
          nextPollAt: next,
        }),
      ).toBe(true);
      // Released, but not due until nextPollAt.
      expect(await t.store.feeds.claim({ ...feed, owner: 'w2', leaseMs: 60_000 })).toBeUndefined();
      const [state] = await t.store.feeds.list('org-a');
      expect(state).toMatchObject({ etag: '"v1"', status: 'ok', errors: 0 });
      expect(state?.nextPollAt?.getTime()).toBe(next.getTime());
      expect(await t.store.feeds.list('org-b')).toEqual([]);
    });

    it('takes a feed over once its holder’s lease has run out; an error keeps the validators', async () => {
      const feed = { organisationId: 'org-a', feedId: 'f2', url: 'https://feeds.example/b' };
      expect(await t.store.feeds.claim({ ...feed, owner: 'w1', leaseMs: 60_000 })).toBeDefined();
      await t.store.feeds.finish('org-a', 'f2', 'w1', {
        status: 'ok',
        etag: '"e"',
        errors: 0,
        nextPollAt: new Date(0),
      });
      expect(await t.store.feeds.claim({ ...feed, owner: 'w1', leaseMs: 0 })).toBeDefined();
      // w1 died with its lease run out: w2 takes the feed.
      expect(await t.store.feeds.claim({ ...feed, owner: 'w2', leaseMs: 60_000 })).toBeDefined();
      expect(
        await t.store.feeds.finish('org-a', 'f2', 'w2', {
          status: 'error',
          error: 'HTTP 500',
          errors: 1,
          nextPollAt: new Date(0),
        }),
      ).toBe(true);
      const state = (await t.store.feeds.list('org-a')).find((f) => f.feedId === 'f2');
      expect(state).toMatchObject({ etag: '"e"', status: 'error', lastError: 'HTTP 500', errors: 1 });
    });

    it('keeps each alert once per feed, the latest decision standing, newest first, per organisation', async () => {
      const alert = {
        organisationId: 'org-a',
        feedId: 'f1',
        sender: 'vigilance@meteo.example',
        identifier: 'a-1',
        sent: '2026-12-01T08:00:00+01:00',
        msgType: 'Alert',
        details: { event: 'Thunderstorm', areas: ['FR372'] },
        kept: false,
        reason: 'area not watched',
      };
      await t.store.feeds.recordAlert(alert);
      await t.store.feeds.recordAlert({ ...alert, kept: true, reason: 'kept', postId: 'c-k1' });
      await t.store.feeds.recordAlert({ ...alert, identifier: 'a-2', msgType: 'Update' });
      const got = await t.store.feeds.alert('org-a', 'f1', alert.sender, 'a-1');
      expect(got).toMatchObject({ kept: true, reason: 'kept', postId: 'c-k1', details: alert.details });
      const list = await t.store.feeds.alerts('org-a');
      expect(list.map((a) => a.identifier).sort()).toEqual(['a-1', 'a-2']);
      expect(await t.store.feeds.alerts('org-a', { feedId: 'other' })).toEqual([]);
      expect(await t.store.feeds.alerts('org-b')).toEqual([]);
    });
  });
}

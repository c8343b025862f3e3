// A database out of reach comes out of every path as the store's own StoreUnavailableError (the
// API maps only that to 503); any other error of the database stays as it is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from './errors.ts';
import { openStore } from './open.ts';
import { openTestStore, testDialects, type TestStore } from './testing/index.ts';
import type { NewDelivery, Store } from './types.ts';

const dialects = await testDialects();

const delivery: NewDelivery = {
  id: 'org-u.a.x',
  organisationId: 'org-u',
  actionKey: 'post.a.x',
  postId: 'a',
  kind: 'post',
  source: 'plan',
  network: 'x',
  dueAt: new Date('2030-01-20T08:00:00.000Z'),
  priority: 10,
  contentHash: 'h1',
  parts: [{ part: 1, text: 'one', images: [], language: 'fr' }],
  jobId: 'org-u.a.x.g1',
};

for (const { dialect, skip } of dialects) {
  describe.skipIf(skip !== undefined)(`an unavailable store on ${dialect}`, () => {
    let t: TestStore;
    let closed: Store;
    beforeAll(async () => {
      t = await openTestStore(dialect);
      await t.store.organisations.ensure({ id: 'org-u', name: 'Unavailable' });
      await t.store.deliveries.insert(delivery);
      // A second store on the same database, closed: its calls meet a database out of reach.
      closed = await openStore({ url: t.url, ...(t.schema ? { schema: t.schema } : {}), migrate: false });
      await closed.close();
    });
    afterAll(() => t?.cleanup());

    it('throws StoreUnavailableError from repositories, transactions and the store’s own writes', async () => {
      await expect(closed.deliveries.get(delivery.id)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(
        closed.deliveries.claim(delivery.id, delivery.jobId, { owner: 'w', ttlMs: 1000 }),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(
        closed.audit.append({ actor: 'system', action: 'test', outcome: 'ok' }),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(closed.transaction((tx) => tx.organisations.list())).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      await expect(
        closed.insertPostsAudited(
          [{ organisationId: 'org-u', id: 'b', source: 'ordinary', content: {}, createdBy: 'test' }],
          [],
          [{ actor: 'system', action: 'test', outcome: 'ok' }],
        ),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(await closed.ping()).toBe(false);
    });

    it('leaves every other error of the database as it is', async () => {
      const error = await t.store.deliveries.insert(delivery).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
    });
  });
}

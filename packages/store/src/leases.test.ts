// Migration 0005 on both dialects: each claim takes a lease (owner, epoch, until) in the same
// statement; a second claim is refused while it holds; a write under an older epoch (a worker
// paused past its lease) changes nothing, and a finish under it leaves no audit entry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseLostError } from './repositories/index.ts';
import { openTestStore, testDialects, type TestStore } from './testing/index.ts';
import type { NewDelivery, Store } from './types.ts';

const dialects = await testDialects();

function delivery(name: string): NewDelivery {
  return {
    id: `org-l.${name}.x`,
    organisationId: 'org-l',
    actionKey: name,
    postId: name,
    kind: 'post',
    source: 'plan',
    network: 'x',
    planVersion: 1,
    dueAt: new Date('2030-01-20T08:00:00.000Z'),
    priority: 10,
    contentHash: 'h1',
    parts: [
      { part: 1, text: `${name} one`, images: [], language: 'fr' },
      { part: 2, text: `${name} two`, images: [], language: 'fr' },
    ],
    jobId: `org-l.${name}.x.g1`,
  };
}

for (const { dialect, skip } of dialects) {
  describe.skipIf(skip !== undefined)(`delivery leases on ${dialect}`, () => {
    let t: TestStore;
    let store: Store;
    beforeAll(async () => {
      t = await openTestStore(dialect);
      store = t.store;
      await store.organisations.ensure({ id: 'org-l', name: 'Leases' });
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('lets a finished delivery queued again by a person be claimed at once, not after its old lease', async () => {
      const d = await store.deliveries.insert(delivery('resumed'));
      await store.deliveries.claim(d.id, d.jobId, { owner: 'worker-a', ttlMs: 60_000 });
      await store.deliveries.finish(d.id, 'needs-attention', { epoch: 1, lastError: 'X credits exhausted' });
      await store.deliveries.setJob(d.id, `${d.jobId}.r1`, 'queued');
      const b = await store.deliveries.claim(d.id, `${d.jobId}.r1`, { owner: 'worker-b', ttlMs: 60_000 });
      expect(b?.lease).toMatchObject({ owner: 'worker-b', epoch: 2 });
    });

    it('renews a lease before a send with the store clock, concurrent ones together, not a lost one', async () => {
      const ds = await Promise.all(
        ['send-a', 'send-b', 'send-c'].map((n) => store.deliveries.insert(delivery(n))),
      );
      for (const d of ds) await store.deliveries.claim(d.id, d.jobId, { owner: 'worker-a', ttlMs: 0 });
      // The third is taken over by another claim: its first lease (epoch 1) is lost.
      const c = ds[2]!;
      await store.deliveries.claim(c.id, c.jobId, { owner: 'worker-b', ttlMs: 60_000 });
      const before = await store.clock();
      const [a, b, lost, again] = await Promise.all([
        store.deliveries.renewLeaseForSend(ds[0]!.id, 1, 60_000),
        store.deliveries.renewLeaseForSend(ds[1]!.id, 1, 60_000),
        store.deliveries.renewLeaseForSend(c.id, 1, 60_000),
        // The same lease twice at once (the keeper's renewal and the send's): both hold.
        store.deliveries.renewLeaseForSend(ds[0]!.id, 1, 60_000),
      ]);
      const after = await store.clock();
      for (const at of [a, b, again]) {
        expect(at).toBeInstanceOf(Date);
        expect(at!.getTime()).toBeGreaterThanOrEqual(before.getTime());
        expect(at!.getTime()).toBeLessThanOrEqual(after.getTime());
      }
      expect(lost).toBeUndefined();
      expect((await store.deliveries.leaseOf(ds[0]!.id))?.lease?.until.getTime()).toBeGreaterThan(
        Date.now() + 50_000,
      );
      // The lost lease's holder changed nothing: the new holder's lease is as it took it.
      expect((await store.deliveries.leaseOf(c.id))?.lease).toMatchObject({ owner: 'worker-b', epoch: 2 });
      // A delivery no longer sending has no lease to renew.
      await store.deliveries.finish(ds[1]!.id, 'published', { epoch: 1 });
      expect(await store.deliveries.renewLeaseForSend(ds[1]!.id, 1, 60_000)).toBeUndefined();
    });

    it('refuses a second claim while the first lease holds, and counts the epoch at each claim', async () => {
      const d = await store.deliveries.insert(delivery('held'));
      const a = await store.deliveries.claim(d.id, d.jobId, { owner: 'worker-a', ttlMs: 60_000 });
      expect(a?.lease).toMatchObject({ owner: 'worker-a', epoch: 1 });
      expect(a!.lease.until.getTime()).toBeGreaterThan(Date.now() + 50_000);
      expect(
        await store.deliveries.claim(d.id, d.jobId, { owner: 'worker-b', ttlMs: 60_000 }),
      ).toBeUndefined();
      const state = await store.deliveries.leaseOf(d.id);
      expect(state).toMatchObject({
        status: 'sending',
        jobId: d.jobId,
        lease: { owner: 'worker-a', epoch: 1 },
      });
      expect((await store.deliveries.get(d.id))?.attempts).toBe(1);

      // A lease that has run out (its holder stopped renewing it) is taken by the next claim.
      const e = await store.deliveries.insert(delivery('expired'));
      await store.deliveries.claim(e.id, e.jobId, { owner: 'worker-a', ttlMs: 0 });
      const b = await store.deliveries.claim(e.id, e.jobId, { owner: 'worker-b', ttlMs: 60_000 });
      expect(b?.lease).toMatchObject({ owner: 'worker-b', epoch: 2 });
      // Let go by a retry: claimable at once.
      await store.deliveries.retryLater(e.id, 'HTTP 503', 2);
      expect((await store.deliveries.leaseOf(e.id))?.lease).toBeUndefined();
      const c = await store.deliveries.claim(e.id, e.jobId, { owner: 'worker-c', ttlMs: 60_000 });
      expect(c?.lease).toMatchObject({ owner: 'worker-c', epoch: 3 });
    });

    it('lets only the latest epoch record parts, marks, retries and results', async () => {
      const d = await store.deliveries.insert(delivery('fenced'));
      const stale = (await store.deliveries.claim(d.id, d.jobId, { owner: 'paused', ttlMs: 0 }))!;
      const current = (await store.deliveries.claim(d.id, d.jobId, { owner: 'taker', ttlMs: 60_000 }))!;
      expect([stale.lease.epoch, current.lease.epoch]).toEqual([1, 2]);
      const before = await store.deliveries.get(d.id);
      const auditBefore = await store.audit.head();

      expect(await store.deliveries.renewLease(d.id, 1, 60_000)).toBe(false);
      expect(
        await store.deliveries.partPublished(d.id, 1, { remoteId: 'stale-1', url: 'https://x.test/s1' }, 1),
      ).toBe(false);
      await store.deliveries.partOutcomeUnknown(d.id, 2, true, 1);
      await store.deliveries.retryLater(d.id, 'stale retry', 1);
      await expect(
        store.deliveries.finish(d.id, 'published', {
          epoch: 1,
          landed: { part: 2, remoteId: 'stale-2', url: 'https://x.test/s2' },
        }),
      ).rejects.toBeInstanceOf(LeaseLostError);
      await expect(
        store.finishDelivery(
          stale,
          'published',
          { epoch: 1, landed: { part: 2, remoteId: 'stale-2', url: 'https://x.test/s2' } },
          (done) => ({
            organisationId: 'org-l',
            actor: 'system',
            action: 'delivery.published',
            deliveryId: done.id,
            outcome: 'ok',
          }),
        ),
      ).rejects.toBeInstanceOf(LeaseLostError);
      // Nothing of the stale holder's writes is there; the audit log has no entry of them.
      expect(await store.deliveries.get(d.id)).toEqual(before);
      expect(await store.audit.head()).toEqual(auditBefore);
      expect((await store.deliveries.leaseOf(d.id))?.lease).toMatchObject({ owner: 'taker', epoch: 2 });

      // The current holder's writes land.
      expect(await store.deliveries.renewLease(d.id, 2, 60_000)).toBe(true);
      expect(
        await store.deliveries.partPublished(d.id, 1, { remoteId: 'r1', url: 'https://x.test/r1' }, 2),
      ).toBe(true);
      await store.deliveries.partOutcomeUnknown(d.id, 2, true, 2);
      expect((await store.deliveries.get(d.id))?.parts.map((p) => p.outcomeUnknown)).toEqual([false, true]);
      const mine = (await store.deliveries.get(d.id))!;
      const done = await store.finishDelivery(
        { ...mine, lease: current.lease } as typeof current,
        'published',
        { epoch: 2, landed: { part: 2, remoteId: 'r2', url: 'https://x.test/r2' } },
        (x) => ({
          organisationId: 'org-l',
          actor: 'system',
          action: 'delivery.published',
          deliveryId: x.id,
          outcome: 'ok',
        }),
      );
      expect(done.status).toBe('published');
      expect(done.parts.map((p) => p.remoteId)).toEqual(['r1', 'r2']);
      expect((await store.audit.head()).seq).toBe(auditBefore.seq + 1);
      // A final delivery is claimed by nobody, lease or not.
      expect(await store.deliveries.claim(d.id, d.jobId, { owner: 'late', ttlMs: 0 })).toBeUndefined();
    });
  });
}

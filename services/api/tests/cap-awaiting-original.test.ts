/**
 * A CAP Update or Cancel that arrives while its original still awaits approval (a feed in mode
 * approve, or the plan's second-person approval), through POST /v1/crisis and the approve route.
 * Nothing of the original went out, so an Update takes its place (on the original's networks,
 * not as a reply) and the original can no longer be approved with outdated words; a Cancel
 * withdraws it and posts nothing; an Update without <info> leaves it waiting.
 */
import { silentLogger } from '@sunset/core';
import type { Store } from '@sunset/store';
import { testDialects } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { CAP_ALERT, ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

const SENDER = 'alerte@indre-et-loire.gouv.fr';
const SENT = '2026-12-01T08:00:00+01:00';
const ref = (id: string) => `${SENDER},${id},${SENT}`;

/** A Cancel or Update without <info>, as IPAWS-style systems send them. */
const bare = (
  id: string,
  msgType: 'Cancel' | 'Update',
  original: string,
) => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${id}</identifier>
  <sender>${SENDER}</sender>
  <sent>2026-12-01T11:30:00+01:00</sent>
  <status>Actual</status>
  <msgType>${msgType}</msgType>
  <scope>Public</scope>
  <references>${ref(original)}</references>
</alert>`;

/**
 * The store, with its next transaction held once armed: `reached` settles when a request gets to
 * it, resolving `go` lets it run, `done` settles when it has finished (committed or not). Later
 * transactions (a retry) run freely.
 */
function gatedTransactions(store: Store) {
  let armed = false;
  let signals = latches();
  const transaction: Store['transaction'] = async (fn) => {
    if (!armed) return store.transaction(fn);
    armed = false;
    const mine = signals;
    mine.reached.resolve();
    await mine.go.promise;
    try {
      return await store.transaction(fn);
    } finally {
      mine.done.resolve();
    }
  };
  return {
    store: new Proxy(store, {
      get: (target, prop, receiver) =>
        prop === 'transaction' ? transaction : (Reflect.get(target, prop, receiver) as unknown),
    }),
    arm() {
      armed = true;
      signals = latches();
      return signals;
    },
  };
}

const latches = () => ({
  reached: Promise.withResolvers<void>(),
  go: Promise.withResolvers<void>(),
  done: Promise.withResolvers<void>(),
});

let g: Fixture;

const send = async (xml: string) => {
  const r = await g.app.inject({
    method: 'POST',
    url: '/v1/crisis',
    headers: { ...g.auth('crisis'), 'content-type': 'application/cap+xml' },
    payload: xml,
  });
  expect(r.statusCode, r.body).toBe(202);
  return r.json() as { id: string; state: string; deliveries: unknown[]; notes: string[] };
};
const approve = (id: string) =>
  g.app.inject({ method: 'POST', url: `/v1/crisis/${id}/approve`, headers: g.auth('crisis2') });
const stateOf = async (id: string) =>
  (await g.app.inject({ url: `/v1/crisis/${id}`, headers: g.auth('crisis') })).json() as {
    state: string;
    content: { cancelled?: { supersededBy?: string } };
  };
const deliveries = (postId: string) => g.store.deliveries.list({ organisationId: ORG, postId });

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(
    `a CAP follow-up of an alert that awaits approval, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      beforeAll(async () => {
        g = await startFixture({}, planYaml({ approval: 'second-person' }), dialect);
      });
      afterAll(async () => {
        await g?.close();
      });

      it('an Update takes the place of its original, which can no longer be approved', async () => {
        const original = await send(CAP_ALERT({ id: 'wait-1', headline: 'Crue : vigilance orange' }));
        expect(original.state).toBe('awaiting-approval');

        const update = await send(
          CAP_ALERT({
            id: 'wait-2',
            msgType: 'Update',
            references: ref('wait-1'),
            headline: 'Crue : vigilance rouge',
          }),
        );
        expect(update.state).toBe('awaiting-approval');
        expect(update.notes.join('\n')).toMatch(/has not gone out.*replaces it/);
        const before = await stateOf(original.id);
        expect(before.state).toBe('cancelled');
        expect(before.content.cancelled?.supersededBy).toBe(update.id);

        const outdated = await approve(original.id);
        expect(outdated.statusCode).toBe(409);
        expect(outdated.json().error.message).toContain(update.id);
        expect(await deliveries(original.id)).toEqual([]);

        const ok = await approve(update.id);
        expect(ok.statusCode, ok.body).toBe(202);
        const sent = await deliveries(update.id);
        expect(sent.map((d) => d.network).sort()).toEqual(['bluesky', 'mastodon', 'x']);
        for (const d of sent) expect(d.parts[0]?.text).toContain('vigilance rouge');

        const audit = (
          await g.app.inject({ url: `/v1/audit?post=${original.id}`, headers: g.auth('admin') })
        ).json().entries as { action: string; details?: { supersededBy?: string } }[];
        expect(
          audit.filter((e) => e.action === 'crisis.superseded').map((e) => e.details?.supersededBy),
        ).toEqual([update.id]);
      });

      it('a later Update naming only the first alert follows the chain to the one that replaced it', async () => {
        const first = await send(CAP_ALERT({ id: 'chain-1', headline: 'Orages : vigilance jaune' }));
        const second = await send(
          CAP_ALERT({
            id: 'chain-2',
            msgType: 'Update',
            references: ref('chain-1'),
            headline: 'Orages : orange',
          }),
        );
        expect((await approve(second.id)).statusCode).toBe(202);
        const third = await send(
          CAP_ALERT({
            id: 'chain-3',
            msgType: 'Update',
            references: ref('chain-1'),
            headline: 'Orages : rouge',
          }),
        );
        expect(third.state).toBe('awaiting-approval');
        expect((await stateOf(first.id)).state).toBe('cancelled');
        expect((await stateOf(second.id)).state).toBe('accepted');
        expect((await approve(third.id)).statusCode).toBe(202);
        // The second went out: the third answers it there, on every network.
        expect((await deliveries(third.id)).map((d) => d.network).sort()).toEqual([
          'bluesky',
          'mastodon',
          'x',
        ]);
        const post = await g.store.posts.get(ORG, third.id);
        expect(post?.replyToPostId).toBe(second.id);
      });

      it('an approval and an Update in the same moment: the original is approved or replaced, never both', async () => {
        // Each request through its own app on the same store, whose transaction is held until both
        // have read the original as awaiting approval; then one writes, and the other after it.
        const approvals = gatedTransactions(g.store);
        const updates = gatedTransactions(g.store);
        const options = { queues: g.queues, logger: silentLogger(), plansDir: g.dir };
        const approvalApp = await buildApp({ ...options, store: approvals.store });
        const updateApp = await buildApp({ ...options, store: updates.store });
        try {
          for (const [round, first] of ['approval', 'update', 'approval', 'update'].entries()) {
            const capId = `race-${round}`;
            const original = await send(CAP_ALERT({ id: capId }));
            const a = approvals.arm();
            const u = updates.arm();
            const order = (async () => {
              await Promise.all([a.reached.promise, u.reached.promise]);
              const [one, two] = first === 'approval' ? [a, u] : [u, a];
              one.go.resolve();
              await one.done.promise;
              two.go.resolve();
            })();
            const [approved, updateAnswer] = await Promise.all([
              approvalApp.inject({
                method: 'POST',
                url: `/v1/crisis/${original.id}/approve`,
                headers: g.auth('crisis2'),
              }),
              updateApp.inject({
                method: 'POST',
                url: '/v1/crisis',
                headers: { ...g.auth('crisis'), 'content-type': 'application/cap+xml' },
                payload: CAP_ALERT({
                  id: `${capId}-update`,
                  msgType: 'Update',
                  references: ref(capId),
                  headline: 'Crue : fin de la montée des eaux',
                }),
              }),
              order,
            ]);
            expect(updateAnswer.statusCode, updateAnswer.body).toBe(202);
            const update = updateAnswer.json() as { id: string; notes: string[] };
            const sent = await deliveries(original.id);
            const state = await stateOf(original.id);
            if (first === 'approval') {
              // Approved first: the Update answers it, and replaces nothing.
              expect(approved.statusCode, approved.body).toBe(202);
              expect(state.state).toBe('accepted');
              expect(state.content.cancelled).toBeUndefined();
              expect(sent).toHaveLength(3);
              expect(update.notes.join('\n')).not.toMatch(/replaces it/);
              expect((await g.store.posts.get(ORG, update.id))?.replyToPostId).toBe(original.id);
            } else {
              expect(approved.statusCode, approved.body).toBe(409);
              expect(state.state).toBe('cancelled');
              expect(state.content.cancelled?.supersededBy).toBe(update.id);
              expect(sent).toEqual([]);
            }
          }
        } finally {
          await approvalApp.close();
          await updateApp.close();
        }
      });

      it('a Cancel withdraws its original and posts nothing', async () => {
        const original = await send(CAP_ALERT({ id: 'cancel-1' }));
        const cancel = await send(bare('cancel-2', 'Cancel', 'cancel-1'));
        expect(cancel.state).toBe('recorded');
        expect(cancel.deliveries).toEqual([]);
        expect(cancel.notes.join('\n')).toMatch(/has not gone out.*withdraws it/);
        expect((await stateOf(original.id)).state).toBe('cancelled');
        expect((await approve(original.id)).statusCode).toBe(409);
        expect(await deliveries(original.id)).toEqual([]);
        expect(await deliveries(cancel.id)).toEqual([]);
      });

      it('an Update without <info> leaves its original waiting, and is recorded only', async () => {
        const original = await send(CAP_ALERT({ id: 'noinfo-1' }));
        const update = await send(bare('noinfo-2', 'Update', 'noinfo-1'));
        expect(update.state).toBe('recorded');
        expect(update.notes.join('\n')).toMatch(/still awaits approval/);
        expect((await stateOf(original.id)).state).toBe('awaiting-approval');
        const ok = await approve(original.id);
        expect(ok.statusCode, ok.body).toBe(202);
        expect(await deliveries(original.id)).toHaveLength(3);
      });
    },
  );
}

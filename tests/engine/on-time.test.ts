// Scheduled posts start on their due time: a plan job becomes ready EARLY_START_MS before it, the
// worker takes it, loads the organisation's settings and connector, and waits for that time. So a
// job is in a worker's hands before its post is due, and what a re-applied plan changes in that
// window must still win: a post moved later goes at its new time only, a removed one never. The
// waiting is the worker runtime's, whatever the store: this runs on SQLite.
import { applyPlan } from '@sunset/engine';
import { EARLY_START_MS } from '@sunset/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  ORG,
  startEngine,
  startSandboxes,
  waitFor,
  type PlanPost,
  type Sandboxes,
  type TestEngine,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let engine: TestEngine;
beforeAll(async () => {
  sandboxes = await startSandboxes();
  engine = await startEngine(sandboxes, { runtime: { concurrency: 8, networks: ['x', 'mastodon'] } });
});
afterAll(async () => {
  await engine?.close();
  await sandboxes?.stop();
});

describe('scheduled posts on their due time', () => {
  it('takes a job before its due time, posts it not before, and lets a plan changed meanwhile win', async () => {
    const sunset = iso(Date.now() + 30 * 24 * 3600_000);
    // Plans have second resolution: due on a whole second, at least 3 s from now.
    const due = Math.ceil((Date.now() + 3_000) / 1000) * 1000;
    const text = (id: string) => `Rendez-vous (${id}) : la mairie publie désormais sur Mastodon.`;
    const post = (id: string, on: PlanPost['on'], at = due): PlanPost => ({
      id,
      at: iso(at),
      on,
      text: text(id),
    });
    const kept = ['ot-1', 'ot-2', 'ot-3', 'ot-4'].map((id) => post(id, ['x', 'mastodon']));
    const first = await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: engine.plans.write({
        sunset,
        posts: [...kept, post('ot-moved', ['x']), post('ot-gone', ['mastodon'])],
      }),
      actor: 'cli:test',
    });
    expect(first.counts['+']).toBe(11);
    const deliveries = await engine.t.store.deliveries.list({ organisationId: ORG, source: 'plan' });
    const jobOf = (postId: string) => deliveries.find((d) => d.postId === postId)!;
    const moved = jobOf('ot-moved');
    const gone = jobOf('ot-gone');

    // Taken by the worker before the due time, and nothing posted yet.
    await waitFor(
      'the jobs to be taken before their due time',
      async () =>
        (await engine.queues.jobState('x', moved.jobId)) === 'active' &&
        (await engine.queues.jobState('mastodon', gone.jobId)) === 'active',
      due - Date.now() - 10,
      10,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(due - EARLY_START_MS - 1_000);
    const ours = (texts: readonly string[]) => texts.filter((t) => t.includes('(ot-'));
    expect(ours(sandboxes.x.posts.map((p) => p.text))).toEqual([]);
    expect(ours(sandboxes.mastodon.statuses.map((s) => s.text))).toEqual([]);

    // While those jobs wait in the worker: one post moved 2 s later, one removed.
    const later = due + 2_000;
    const second = await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: engine.plans.write({ sunset, posts: [...kept, post('ot-moved', ['x'], later)] }),
      actor: 'cli:test',
    });
    expect(second.counts).toMatchObject({ '~': 1, '-': 1 });
    expect(Date.now()).toBeLessThan(due);

    await waitFor(
      'the kept posts and the moved one to land',
      () =>
        ours(sandboxes.x.posts.map((p) => p.text)).length === 5 &&
        ours(sandboxes.mastodon.statuses.map((s) => s.text)).length === 4,
      20_000,
    );
    // The removed post's job was taken with the others: once the worker is done with it, it has
    // had every chance to post.
    await waitFor(
      "the worker to be done with the removed post's job",
      async () =>
        !['active', 'waiting', 'prioritized', 'delayed'].includes(
          String(await engine.queues.jobState('mastodon', gone.jobId)),
        ),
      20_000,
    );

    const onX = sandboxes.x.posts.filter((p) => p.text.includes('(ot-'));
    const onMastodon = sandboxes.mastodon.statuses.filter((s) => s.text.includes('(ot-'));
    for (const p of kept) {
      expect(
        onX.filter((x) => x.text === p.text),
        `${p.id} on X`,
      ).toHaveLength(1);
      expect(
        onMastodon.filter((s) => s.text === p.text),
        `${p.id} on Mastodon`,
      ).toHaveLength(1);
    }
    expect(onX.filter((x) => x.text === text('ot-moved'))).toHaveLength(1);
    expect(onMastodon.filter((s) => s.text === text('ot-gone'))).toHaveLength(0);
    // Never before its time, as the networks saw it.
    for (const x of onX) {
      const dueOf = x.text === text('ot-moved') ? later : due;
      expect(x.createdAt.getTime(), x.text).toBeGreaterThanOrEqual(dueOf);
    }
    for (const s of onMastodon) expect(s.createdAt.getTime(), s.text).toBeGreaterThanOrEqual(due);

    const after = await engine.t.store.deliveries.list({ organisationId: ORG, source: 'plan' });
    const status = (postId: string, network: string) =>
      after
        .filter((d) => d.postId === postId && d.network === network && d.kind === 'post')
        .map((d) => d.status);
    expect(status('ot-moved', 'x')).toEqual(['published']);
    expect(status('ot-gone', 'mastodon')).toEqual(['cancelled']);
    expect((await engine.t.store.verifyAudit()).ok).toBe(true);
  });
});

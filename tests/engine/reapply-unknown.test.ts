// Re-applying a plan never forgets what may already be on X. A part whose X outcome is unknown
// (the post was stored, the answer lost) keeps its mark through a re-apply that changes its text,
// and the next attempt searches X for the text that was sent before posting anything; a thread
// with parts already on X is not re-split under them ("too late: 2 of 3 parts are published"),
// so X shows one coherent thread. The worker runtime is stopped while the plan is re-applied, as
// a worker between two attempts would be: the re-apply meets the delivery queued, never sending.
import { applyPlan, startWorkerRuntime, type ApplyResult, type WorkerRuntime } from '@sunset/engine';
import { createRedis } from '@sunset/queue';
import { testDialects } from '@sunset/store/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FAST_LIMITS,
  iso,
  ORG,
  sandboxFetchAllow,
  startEngine,
  sandboxesForFile,
  STATE_KEY_HEX,
  testLogger,
  waitFor,
  type PlanPost,
  type TestEngine,
} from '../support/exit-harness.ts';

const sandboxes = sandboxesForFile();

const TIMELINE = /^\/2\/users\/[^/]+\/tweets$/;

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(`plan re-apply after X parts were sent, on ${dialect}`, () => {
    let engine: TestEngine;
    let runtime: { worker: WorkerRuntime; connection: Redis } | undefined;
    const sunset = iso(Date.now() + 30 * 24 * 3600_000);

    /** A worker runtime in this process, stopped by stopWorker (a worker between attempts). */
    async function startWorker(): Promise<void> {
      const connection = createRedis(engine.redis.url, { role: 'worker' });
      const worker = await startWorkerRuntime({
        store: engine.t.store,
        connection,
        prefix: engine.redis.prefix,
        logger: testLogger,
        env: sandboxes.env,
        secretsDir: sandboxes.secretsDir,
        dataDir: engine.plans.dir,
        limits: FAST_LIMITS,
        xCa: sandboxes.x.ca,
        reconcileIntervalMs: 0,
        fetchAllow: sandboxFetchAllow(sandboxes),
        stateKey: Buffer.from(STATE_KEY_HEX, 'hex'),
      });
      runtime = { worker, connection };
    }
    async function stopWorker(): Promise<void> {
      await runtime?.worker.close(5_000);
      runtime?.connection.disconnect();
      runtime = undefined;
    }
    async function apply(posts: PlanPost[], name: string): Promise<ApplyResult> {
      return applyPlan({
        store: engine.t.store,
        queues: engine.queues,
        plan: engine.plans.write({ sunset, posts }, name),
        actor: 'cli:test',
      });
    }
    const delivery = (postId: string) => engine.t.store.deliveries.get(`${ORG}.post.${postId}.x`);

    beforeAll(async () => {
      engine = await startEngine(sandboxes, { dialect, start: false });
    });
    afterAll(async () => {
      sandboxes.x.clearFaults();
      await stopWorker();
      await engine?.close();
    });

    it('searches X for the text sent before when a re-apply changed a part whose outcome is unknown', async () => {
      const tag = `unknown-${dialect}-${Date.now()}`;
      const before = `Fermeture de la piscine (${tag}) : réouverture lundi.`;
      const after = `Fermeture de la piscine (${tag}) : réouverture mardi, pas lundi.`;
      const at = iso(Date.now());
      // X stores the post and the answer is lost; the retries' searches then fail, so the part
      // stays "outcome unknown" until the worker stops.
      sandboxes.x.inject({ kind: 'lost-reply' }, { path: '/2/tweets', method: 'POST', times: 1 });
      sandboxes.x.inject({ kind: 'status', status: 503 }, { path: TIMELINE, method: 'GET', times: 10_000 });
      await startWorker();
      await apply([{ id: `u-${dialect}`, at, on: ['x'], text: before }], `unknown-a-${dialect}.yaml`);
      await waitFor(
        'the part to be stored by X with its outcome unknown',
        async () =>
          sandboxes.x.posts.some((p) => p.text === before) &&
          (await delivery(`u-${dialect}`))?.parts[0]?.outcomeUnknown === true,
        30_000,
      );
      await stopWorker();
      await waitFor('the delivery to wait for its next attempt', async () => {
        const d = await delivery(`u-${dialect}`);
        return d?.status === 'queued' && d.parts[0]?.outcomeUnknown === true;
      });

      const result = await apply(
        [{ id: `u-${dialect}`, at, on: ['x'], text: after }],
        `unknown-b-${dialect}.yaml`,
      );
      const entry = result.diff.find((e) => e.deliveryId === `${ORG}.post.u-${dialect}.x`);
      expect(entry).toMatchObject({ mark: '~' });
      const marked = (await delivery(`u-${dialect}`))?.parts[0]?.outcomeUnknown;

      sandboxes.x.clearFaults();
      await startWorker();
      await waitFor(
        'the delivery to end',
        async () =>
          ['published', 'failed', 'needs-attention'].includes((await delivery(`u-${dialect}`))?.status ?? ''),
        30_000,
      );
      await stopWorker();
      const posted = sandboxes.x.posts.filter((p) => p.text.includes(tag));
      expect(posted.map((p) => p.text)).toEqual([before]);
      const done = await delivery(`u-${dialect}`);
      expect(done).toMatchObject({ status: 'published', remoteId: posted[0]?.id });
      // The store says what X shows: the text that landed.
      expect(done?.parts.map((p) => [p.text, p.remoteId, p.outcomeUnknown])).toEqual([
        [before, posted[0]?.id, false],
      ]);
      // The mark survived the re-apply, and the diff said why the change may not be sent.
      expect(marked).toBe(true);
      expect(entry?.reason).toMatch(/outcome on X is unknown/);
    });

    it('refuses to re-split a thread with parts on X, applies the rest, and X shows one coherent thread', async () => {
      const tag = `thread-${dialect}-${Date.now()}`;
      const sentence = (i: number) =>
        `Phrase ${i} du message de travaux (${tag}) : la rue principale sera fermée à la circulation pendant les travaux de voirie.`;
      const text = (n: number) => Array.from({ length: n }, (_, i) => sentence(i + 1)).join(' ');
      const at = iso(Date.now());
      const from = sandboxes.x.posts.length;
      // Two parts land; the third meets X failing until the worker stops.
      sandboxes.x.inject({ kind: 'latency', ms: 0 }, { path: '/2/tweets', method: 'POST', times: 2 });
      sandboxes.x.inject(
        { kind: 'status', status: 503 },
        { path: '/2/tweets', method: 'POST', times: 10_000 },
      );
      await startWorker();
      await apply([{ id: `t-${dialect}`, at, on: ['x'], text: text(3) }], `thread-a-${dialect}.yaml`);
      const first = await delivery(`t-${dialect}`);
      expect(first?.parts.map((p) => p.text.slice(-4))).toEqual([' 1/3', ' 2/3', ' 3/3']);
      await waitFor(
        'two parts on X and the third refused once',
        async () => {
          const d = await delivery(`t-${dialect}`);
          return d !== undefined && d.parts.filter((p) => p.remoteId).length === 2 && d.attempts >= 2;
        },
        30_000,
      );
      await stopWorker();
      await waitFor(
        'the thread to wait for its next attempt',
        async () => (await delivery(`t-${dialect}`))?.status === 'queued',
      );

      const result = await apply(
        [
          { id: `t-${dialect}`, at, on: ['x'], text: text(4) },
          { id: `n-${dialect}`, at, on: ['x'], text: `Nouveau message (${tag}).` },
        ],
        `thread-b-${dialect}.yaml`,
      );
      const thread = result.diff.find((e) => e.deliveryId === `${ORG}.post.t-${dialect}.x`);
      expect(thread).toMatchObject({ mark: '✓', parts: 3 });
      expect(thread?.reason).toMatch(/^too late: 2 of 3 parts are published/);
      expect(result.diff.find((e) => e.deliveryId === `${ORG}.post.n-${dialect}.x`)).toMatchObject({
        mark: '+',
      });

      sandboxes.x.clearFaults();
      await startWorker();
      await waitFor(
        'the thread and the new post to be published',
        async () =>
          (await delivery(`t-${dialect}`))?.status === 'published' &&
          (await delivery(`n-${dialect}`))?.status === 'published',
        30_000,
      );
      await stopWorker();
      const posted = sandboxes.x.posts
        .slice(from)
        .filter((p) => p.text.includes(tag) || / \d\/\d$/.test(p.text));
      const threadPosts = posted.filter((p) => / \d\/\d$/.test(p.text));
      expect(threadPosts.map((p) => p.text.slice(-4))).toEqual([' 1/3', ' 2/3', ' 3/3']);
      expect(threadPosts[1]?.inReplyToId).toBe(threadPosts[0]?.id);
      expect(threadPosts[2]?.inReplyToId).toBe(threadPosts[1]?.id);
      expect(posted.filter((p) => p.text === `Nouveau message (${tag}).`)).toHaveLength(1);
    });
  });
}

// The worker process killed with SIGKILL in the middle of 300 deliveries, then started again:
// every post must be at the sandbox servers exactly once. The networks answer slowly, so the
// kill lands while requests are on the wire (X then applies a post whose answer nobody reads,
// which the next worker must find instead of posting it again).
import type { ChildProcess } from 'node:child_process';
import { applyPlan } from '@sunset/engine';
import { createRedis, Queues } from '@sunset/queue';
import { openTestStore, testDialects, type TestStore } from '@sunset/store/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  PlanFolder,
  postedTexts,
  sandboxesForFile,
  startWorkerProcess,
  testRedis,
  waitFor,
  ORG,
  type PlanPost,
  type TestRedis,
} from '../support/exit-harness.ts';

const POSTS = 100;

const sandboxes = sandboxesForFile();

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(`a worker killed mid-run, on ${dialect}`, () => {
    let t: TestStore;
    let redis: TestRedis;
    let producer: Redis;
    let plans: PlanFolder;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      t = await openTestStore(dialect);
      redis = testRedis();
      producer = createRedis(redis.url, { role: 'producer' });
      await new Promise((r) => producer.once('ready', r));
      plans = new PlanFolder(sandboxes);
    });
    afterAll(async () => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      producer?.disconnect();
      await redis?.cleanup();
      await t?.cleanup();
      plans?.remove();
      sandboxes.x.clearFaults();
      sandboxes.bluesky.clearFaults();
      sandboxes.mastodon.clearFaults();
    });

    const startWorker = (): ChildProcess => {
      const worker = startWorkerProcess(
        sandboxes,
        { storeUrl: t.url, ...(t.schema ? { schema: t.schema } : {}), redis, dir: plans.dir },
        {
          SUNSET_WORKER_CONCURRENCY: '4',
          SUNSET_LOCK_DURATION_MS: '3000',
          SUNSET_RECONCILE_INTERVAL_MS: '5000',
        },
      );
      worker.child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL' && signal !== 'SIGTERM' && code !== 0) {
          process.stderr.write(`worker exited with ${code ?? signal}:\n${worker.output()}\n`);
        }
      });
      children.push(worker.child);
      return worker.child;
    };

    const published = async () =>
      (await t.store.deliveries.list({ organisationId: ORG, source: 'plan', status: 'published' })).length;

    it('publishes every one of 300 deliveries exactly once across a SIGKILL and a restart', async () => {
      const tag = `k${dialect}`;
      // Slow answers everywhere: the kill finds requests in flight on every network.
      sandboxes.x.inject({ kind: 'latency', ms: 60 }, { times: 100_000, path: '/2/tweets', method: 'POST' });
      sandboxes.mastodon.inject(
        { kind: 'latency', ms: 60 },
        { times: 100_000, path: '/api/v1/statuses', method: 'POST' },
      );
      sandboxes.bluesky.inject(
        { kind: 'latency', ms: 60 },
        { times: 100_000, path: 'com.atproto.repo.createRecord' },
      );
      const list: PlanPost[] = Array.from({ length: POSTS }, (_, i) => ({
        id: `${tag}-${i + 1}`,
        at: iso(Date.now() + 2_000),
        on: ['x', 'bluesky', 'mastodon'],
        text: `Message ${i + 1} (${tag}) : retrouvez-nous sur Bluesky et Mastodon.`,
      }));
      const queues = new Queues({ connection: producer, prefix: redis.prefix });
      const applied = await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset: iso(Date.now() + 24 * 3600_000), posts: list }, `crash-${dialect}.yaml`),
        actor: 'cli:test',
      });
      await queues.close();
      expect(applied.counts['+']).toBe(3 * POSTS + 1);

      const first = startWorker();
      await waitFor(
        'a third of the deliveries to be published',
        async () => (await published()) >= POSTS,
        90_000,
        50,
      );
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      const atKill = await published();
      expect(atKill).toBeLessThan(3 * POSTS);
      const sending = await t.store.deliveries.list({ organisationId: ORG, status: 'sending' });

      const second = startWorker();
      await waitFor(
        'every delivery to be published after the restart',
        async () => (await published()) === 3 * POSTS,
        150_000,
        200,
      );
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));

      const posted = await postedTexts(sandboxes);
      const counts = { x: 0, bluesky: 0, mastodon: 0 };
      const problems: string[] = [];
      for (const p of list) {
        for (const network of ['x', 'bluesky', 'mastodon'] as const) {
          const n = posted[network].filter((text) => text === p.text).length;
          counts[network] += n;
          if (n !== 1) problems.push(`${p.id} is on ${network} ${n} times`);
        }
      }
      expect(problems).toEqual([]);
      expect(counts).toEqual({ x: POSTS, bluesky: POSTS, mastodon: POSTS });
      // The kill was mid-run: some deliveries were being sent when it came.
      expect(atKill).toBeGreaterThanOrEqual(POSTS);
      expect(sending.length + (3 * POSTS - atKill)).toBeGreaterThan(0);
      expect((await t.store.verifyAudit()).ok).toBe(true);
      process.stdout.write(
        `[crash ${dialect}] published at the kill: ${atKill}/300, sending at the kill: ${sending.length}\n`,
      );
    });
  });
}

// The crisis lane: crisis deliveries have a queue of their own per network, served by a worker
// of their own, so that a crisis never waits for a slot ordinary jobs hold. The worker process
// against the sandboxes, with one ordinary and one crisis slot per network: a crisis sent while
// the one ordinary slot is held by a slow post lands before that post, a 429 on the crisis lane
// closes the ordinary lane too, the reconciler puts a lost crisis job back in the crisis queue
// (and leaves one an older producer put in the ordinary queue where it is), and its periodic pass
// waits while a crisis is on the wire.
import type { ChildProcess } from 'node:child_process';
import { applyPlan, OrgSettingsCache, reconcileOutbox, submitPost, type PostsContext } from '@sunset/engine';
import { createRedis, jobIdFor, PRIORITY, Queues } from '@sunset/queue';
import type { DeliveryStatus } from '@sunset/store';
import { openTestStore, testDialects, type TestStore } from '@sunset/store/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  PlanFolder,
  sandboxesForFile,
  startWorkerProcess,
  testRedis,
  waitFor,
  ORG,
  type TestRedis,
} from '../support/exit-harness.ts';

const STATUSES = '/api/v1/statuses';

const sandboxes = sandboxesForFile();

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(`the crisis lane, on ${dialect}`, () => {
    let t: TestStore;
    let redis: TestRedis;
    let producer: Redis;
    let queues: Queues;
    let plans: PlanFolder;
    let ctx: PostsContext;
    let worker: ChildProcess | undefined;
    let output = () => '';

    beforeAll(async () => {
      t = await openTestStore(dialect);
      redis = testRedis();
      producer = createRedis(redis.url, { role: 'producer' });
      await new Promise((r) => producer.once('ready', r));
      queues = new Queues({ connection: producer, prefix: redis.prefix });
      plans = new PlanFolder(sandboxes);
      const doc = plans.document({ sunset: iso(Date.now() + 30 * 24 * 3600_000), posts: [] });
      doc['crisis'] = { on: ['mastodon'], label: '🔴 ALERTE' };
      await applyPlan({ store: t.store, queues, plan: plans.writeDocument(doc), actor: 'cli:test' });
      ctx = { store: t.store, queues, settings: new OrgSettingsCache(t.store) };
    });
    afterAll(async () => {
      if (worker && worker.exitCode === null) {
        worker.kill('SIGTERM');
        await new Promise((r) => worker?.once('exit', r));
      }
      sandboxes.mastodon.clearFaults();
      await queues?.close();
      producer?.disconnect();
      await redis?.cleanup();
      await t?.cleanup();
      plans?.remove();
    });

    const send = async (source: 'ordinary' | 'crisis', text: string) => {
      const r = await submitPost(ctx, {
        organisationId: ORG,
        source,
        text,
        networks: ['mastodon'],
        actor: 'token:test',
      });
      expect(r.state).toBe('accepted');
      const delivery = r.deliveries[0];
      if (!delivery) throw new Error('no delivery');
      return delivery.deliveryId;
    };
    const statusOf = async (deliveryId: string): Promise<DeliveryStatus | undefined> =>
      (await t.store.deliveries.get(deliveryId))?.status;
    const landed = (ref: string) => sandboxes.mastodon.statuses.filter((s) => s.text.includes(ref));

    /** A worker process for Mastodon with these settings, once it serves both lanes. */
    const startWorker = async (env: Record<string, string>) => {
      const w = startWorkerProcess(
        sandboxes,
        { storeUrl: t.url, ...(t.schema ? { schema: t.schema } : {}), redis, dir: plans.dir },
        { SUNSET_WORKER_NETWORKS: 'mastodon', SUNSET_LIMITS: 'mastodon=1000/1s', ...env },
      );
      worker = w.child;
      output = w.output;
      await waitFor(
        'the worker to serve both lanes',
        async () => {
          if (w.child.exitCode !== null) throw new Error(`the worker exited:\n${w.output()}`);
          return (
            (await queues.queue('mastodon', 'crisis').getWorkersCount()) > 0 &&
            (await queues.queue('mastodon').getWorkersCount()) > 0
          );
        },
        30_000,
        50,
      );
    };

    /** One ordinary and one crisis slot per network; started once, by the first test that needs it. */
    const ensureWorker = async () => {
      if (worker) return;
      await startWorker({
        SUNSET_WORKER_CONCURRENCY: '1',
        SUNSET_CRISIS_CONCURRENCY: '1',
        SUNSET_CRISIS_POOL_SIZE: '2',
        SUNSET_RECONCILE_INTERVAL_MS: '0',
      });
    };

    it('puts a lost crisis job back in the crisis queue, and leaves one in the ordinary queue alone', async () => {
      const lost = await send('crisis', `Alerte crue ref=${dialect}-lost : évitez les berges.`);
      const legacy = await send('crisis', `Alerte vent ref=${dialect}-legacy : rentrez les terrasses.`);
      const lostJob = jobIdFor(lost);
      const legacyJob = jobIdFor(legacy);
      expect(await queues.jobState('mastodon', lostJob, 'crisis')).toBe('prioritized');
      expect(await queues.jobState('mastodon', lostJob, 'ordinary')).toBeUndefined();

      // Redis loses the first; the second sits in the ordinary queue, as an older producer put it.
      expect(await queues.remove('mastodon', lostJob, 'crisis')).toBe(true);
      expect(await queues.remove('mastodon', legacyJob, 'crisis')).toBe(true);
      await queues
        .queue('mastodon')
        .add(
          'deliver',
          { organisationId: ORG, deliveryId: legacy },
          { jobId: legacyJob, priority: PRIORITY.crisis },
        );

      const result = await reconcileOutbox({ store: t.store, queues, organisationId: ORG });
      expect(result).toMatchObject({ requeued: 1, renewed: 0 });
      expect(await queues.jobState('mastodon', lostJob, 'crisis')).toBe('prioritized');
      expect(await queues.jobState('mastodon', lostJob, 'ordinary')).toBeUndefined();
      expect(await queues.jobState('mastodon', legacyJob, 'crisis')).toBeUndefined();
      expect(await queues.jobState('mastodon', legacyJob, 'ordinary')).toBe('prioritized');
      const audit = await t.store.audit.list({ organisationId: ORG, action: 'delivery.requeued' });
      expect(audit.map((a) => [a.deliveryId, (a.details as { lane?: string }).lane])).toEqual([
        [lost, 'crisis'],
      ]);

      await ensureWorker();
      await waitFor(
        'both crises to be published',
        async () => (await statusOf(lost)) === 'published' && (await statusOf(legacy)) === 'published',
        30_000,
        50,
      );
      expect(landed(`${dialect}-lost`)).toHaveLength(1);
      expect(landed(`${dialect}-legacy`)).toHaveLength(1);
    });

    it('publishes a crisis while the only ordinary slot is held by a slow post', async () => {
      await ensureWorker();
      // The first post request Mastodon gets answers after 8 s: the ordinary one, holding the slot.
      sandboxes.mastodon.inject({ kind: 'latency', ms: 8_000 }, { times: 1, path: STATUSES, method: 'POST' });
      const slow = await send('ordinary', `Info ref=${dialect}-slow : la piscine ferme à 18 h.`);
      const backlog = [
        await send('ordinary', `Info ref=${dialect}-b1 : marché samedi.`),
        await send('ordinary', `Info ref=${dialect}-b2 : brocante dimanche.`),
      ];
      await waitFor(
        'the slow post to be on the wire',
        async () =>
          [...sandboxes.mastodon.held].some((r) =>
            JSON.stringify(r.body ?? '').includes(`${dialect}-slow`),
          ) && (await t.store.deliveries.get(slow))?.status === 'sending',
        20_000,
        20,
      );

      const sentAt = Date.now();
      const crisis = await send('crisis', `Alerte gaz ref=${dialect}-gas : quittez la rue Nationale.`);
      await waitFor(
        'the crisis to be published',
        async () => (await statusOf(crisis)) === 'published',
        6_000,
        20,
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${output()}`);
      });
      const tookMs = Date.now() - sentAt;
      // The ordinary slot is still held, and the backlog still waits behind it.
      expect(await statusOf(slow)).toBe('sending');
      expect(await Promise.all(backlog.map(statusOf))).toEqual(['queued', 'queued']);
      expect(tookMs).toBeLessThan(5_000);
      expect(landed(`${dialect}-gas`)).toHaveLength(1);

      await waitFor(
        'the ordinary backlog to drain',
        async () => (await Promise.all([slow, ...backlog].map(statusOf))).every((s) => s === 'published'),
        30_000,
        50,
      );
      for (const ref of ['slow', 'b1', 'b2']) expect(landed(`${dialect}-${ref}`)).toHaveLength(1);
    });

    it('closes the ordinary lane too when the crisis lane gets a 429', async () => {
      await ensureWorker();
      sandboxes.mastodon.inject(
        { kind: 'rate-limit', resetInSeconds: 3 },
        { times: 1, path: STATUSES, method: 'POST' },
      );
      const seen = sandboxes.mastodon.received.length;
      const crisis = await send('crisis', `Alerte orage ref=${dialect}-storm : restez chez vous.`);
      await waitFor(
        'the 429',
        () => sandboxes.mastodon.received.slice(seen).some((r) => r.fault === 'rate-limit'),
        10_000,
        10,
      );
      const limitedAt = Date.now();
      await waitFor(
        'the ordinary queue to be closed',
        async () => (await queues.queue('mastodon').getRateLimitTtl(1_000_000)) > 0,
        5_000,
        10,
      );
      expect(await queues.queue('mastodon', 'crisis').getRateLimitTtl(1_000_000)).toBeGreaterThan(0);

      const ordinary = await send('ordinary', `Info ref=${dialect}-after : la mairie ouvre à 9 h.`);
      await waitFor(
        'both to be published after the reset',
        async () => (await statusOf(crisis)) === 'published' && (await statusOf(ordinary)) === 'published',
        20_000,
        50,
      );
      const [after] = landed(`${dialect}-after`);
      const [storm] = landed(`${dialect}-storm`);
      // The window closed until the network's reset (second precision: at least 1.5 s later).
      expect(after && after.createdAt.getTime() - limitedAt).toBeGreaterThan(1_500);
      expect(storm && storm.createdAt.getTime() - limitedAt).toBeGreaterThan(1_500);
      // The ordinary job was never taken while the window was closed: it did not knock, and was
      // not turned back by this process's own gate either (that would leave a rate-limited entry).
      const limited = await t.store.audit.list({ organisationId: ORG, action: 'delivery.rate-limited' });
      expect(limited.map((a) => a.deliveryId)).toEqual([crisis]);
      expect(
        sandboxes.mastodon.received.slice(seen).filter((r) => r.method === 'POST' && r.path === STATUSES),
      ).toHaveLength(3);
    });

    it('holds the periodic reconciler pass while a crisis is being sent', async () => {
      // A worker of its own whose reconciler looks every 200 ms.
      if (worker && worker.exitCode === null) {
        const stopping = worker;
        stopping.kill('SIGTERM');
        await new Promise((r) => stopping.once('exit', r));
      }
      worker = undefined;
      await startWorker({ SUNSET_RECONCILE_INTERVAL_MS: '200' });

      // The crisis is held 3 s on the wire by the sandbox.
      sandboxes.mastodon.inject({ kind: 'latency', ms: 3_000 }, { times: 1, path: STATUSES, method: 'POST' });
      const crisis = await send('crisis', `Alerte canicule ref=${dialect}-heat : buvez de l'eau.`);
      await waitFor(
        'the crisis to be on the wire',
        () =>
          [...sandboxes.mastodon.held].some((r) => JSON.stringify(r.body ?? '').includes(`${dialect}-heat`)),
        10_000,
        10,
      );
      // Meanwhile an open delivery turns up that Redis holds no job for (as after an apply while
      // Redis was away): the next pass puts it back, and says so in the audit log.
      const lost = `${ORG}.post.reconcile-${dialect}.mastodon`;
      await t.store.deliveries.insertMany([
        {
          id: lost,
          organisationId: ORG,
          actionKey: `post.reconcile-${dialect}.mastodon`,
          postId: `reconcile-${dialect}`,
          kind: 'post',
          source: 'ordinary',
          network: 'mastodon',
          dueAt: new Date(),
          priority: PRIORITY.ordinary,
          contentHash: 'h',
          parts: [
            {
              part: 1,
              text: `Info ref=${dialect}-found : la mairie est ouverte.`,
              images: [],
              language: 'fr',
            },
          ],
          jobId: jobIdFor(lost),
        },
      ]);

      await waitFor(
        'the crisis to be published',
        async () => (await statusOf(crisis)) === 'published',
        10_000,
        20,
      );
      const crisisDone = (await t.store.deliveries.get(crisis))!.parts[0]!.publishedAt!.getTime();
      await waitFor(
        'the lost delivery to be published',
        async () => (await statusOf(lost)) === 'published',
        15_000,
        50,
      );
      const requeued = await t.store.audit.list({ organisationId: ORG, action: 'delivery.requeued' });
      const entry = requeued.find((a) => a.deliveryId === lost);
      expect(entry, output()).toBeDefined();
      // Fifteen passes were due while the crisis was on the wire; none ran before it had landed.
      expect(entry!.at.getTime()).toBeGreaterThanOrEqual(crisisDone);
      expect(landed(`${dialect}-heat`)).toHaveLength(1);
      expect(landed(`${dialect}-found`)).toHaveLength(1);
    });
  });
}

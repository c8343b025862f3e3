// The worker process stopped with SIGTERM while a post is on the wire: it must let that
// delivery finish (published once, recorded), take nothing new, and exit 0 within its grace
// period; a worker started afterwards publishes the rest, with no duplicates.
import { applyPlan } from '@sunset/engine';
import { createRedis, Queues } from '@sunset/queue';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  PlanFolder,
  startWorkerProcess,
  type ServiceProcess,
  postedTexts,
  sandboxesForFile,
  testRedis,
  waitFor,
  ORG,
  type PlanPost,
  type TestRedis,
} from '../support/exit-harness.ts';

const POSTS = 5;
const GRACE_MS = 10_000;
const LATENCY_MS = 3_000;

const sandboxes = sandboxesForFile();

describe('a worker stopped with SIGTERM mid-delivery', () => {
  let t: TestStore;
  let redis: TestRedis;
  let producer: Redis;
  let plans: PlanFolder;
  const workers: ServiceProcess[] = [];

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    redis = testRedis();
    producer = createRedis(redis.url, { role: 'producer' });
    await new Promise((r) => producer.once('ready', r));
    plans = new PlanFolder(sandboxes);
  });
  afterAll(async () => {
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    producer?.disconnect();
    await redis?.cleanup();
    await t?.cleanup();
    plans?.remove();
    sandboxes.mastodon.clearFaults();
  });

  const startWorker = () => {
    const worker = startWorkerProcess(
      sandboxes,
      { storeUrl: t.url, redis, dir: plans.dir },
      {
        // One job at a time: the others wait in the queue while the first one is on the wire.
        SUNSET_WORKER_CONCURRENCY: '1',
        SUNSET_SHUTDOWN_GRACE_MS: String(GRACE_MS),
        SUNSET_RECONCILE_INTERVAL_MS: '0',
        LOG_LEVEL: 'info',
      },
    );
    workers.push(worker);
    return worker;
  };

  it('finishes the in-flight delivery, exits 0 within its grace period, and the next worker does the rest', async () => {
    const tag = 'sigterm';
    const list: PlanPost[] = Array.from({ length: POSTS }, (_, i) => ({
      id: `${tag}-${i + 1}`,
      at: iso(Date.now() + 1_000),
      on: ['mastodon'],
      text: `Message ${i + 1} (${tag}) : nous sommes aussi sur Mastodon.`,
    }));
    const queues = new Queues({ connection: producer, prefix: redis.prefix });
    await applyPlan({
      store: t.store,
      queues,
      plan: plans.write({ sunset: iso(Date.now() + 24 * 3600_000), posts: list }, 'shutdown.yaml'),
      actor: 'cli:test',
    });
    await queues.close();
    // The first status posted takes 3 s to be answered; the fault is used up by it.
    sandboxes.mastodon.inject(
      { kind: 'latency', ms: LATENCY_MS },
      { times: 1, path: '/api/v1/statuses', method: 'POST' },
    );
    const statusesBefore = sandboxes.mastodon.statuses.length;

    const first = startWorker();
    const deliveries = () => t.store.deliveries.list({ organisationId: ORG, network: 'mastodon' });
    // The sandbox holds the first status it was sent for 3 s before it answers.
    await waitFor(
      'a Mastodon post to be on the wire',
      async () => sandboxes.mastodon.held.size === 1,
      30_000,
      20,
    );
    const inFlight = (await deliveries()).filter((d) => d.status === 'sending');
    expect(inFlight).toHaveLength(1);
    const flying = inFlight[0]!;
    const textInFlight = flying.parts[0]!.text;
    expect(sandboxes.mastodon.statuses.length).toBe(statusesBefore);

    const termAt = Date.now();
    first.child.kill('SIGTERM');
    const end = await first.exited();
    const tookMs = Date.now() - termAt;
    expect(end, first.output()).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeLessThan(GRACE_MS);
    // It did wait for the answer (the 3 s latency), rather than dropping the job.
    expect(tookMs).toBeGreaterThan(1_000);

    // The request had reached the server before the signal, and was answered after it.
    const slow = sandboxes.mastodon.received.filter(
      (r) => r.method === 'POST' && r.path === '/api/v1/statuses' && r.fault === 'latency',
    );
    expect(slow).toHaveLength(1);
    expect(slow[0]!.time.getTime()).toBeLessThan(termAt);
    expect(slow[0]!.status).toBe(200);

    // The in-flight delivery was finished and recorded by the stopping worker; nothing else began.
    const afterStop = await deliveries();
    const done = afterStop.find((d) => d.id === flying.id)!;
    expect(done.status).toBe('published');
    expect(done.parts[0]!.remoteId).toBeDefined();
    expect(afterStop.filter((d) => d.status === 'published')).toHaveLength(1);
    expect(afterStop.filter((d) => d.status === 'queued')).toHaveLength(POSTS - 1);
    expect(sandboxes.mastodon.statuses.filter((s) => s.text === textInFlight)).toHaveLength(1);

    const second = startWorker();
    try {
      await waitFor(
        'the other posts to be published by the next worker',
        async () => (await deliveries()).every((d) => d.status === 'published'),
        60_000,
      );
    } finally {
      second.child.kill('SIGTERM');
    }
    const secondEnd = await second.exited();
    expect(secondEnd, second.output()).toEqual({ code: 0, signal: null });

    const posted = await postedTexts(sandboxes);
    expect(list.map((p) => posted.mastodon.filter((text) => text === p.text).length)).toEqual(
      list.map(() => 1),
    );
    const published = await t.store.audit.list({
      organisationId: ORG,
      action: 'delivery.published',
      network: 'mastodon',
    });
    expect(published).toHaveLength(POSTS);
    expect((await t.store.verifyAudit()).ok).toBe(true);
  });
});

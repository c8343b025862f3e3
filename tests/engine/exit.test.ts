// The engine end to end, in one process: plans applied to a real store and Redis, the worker
// runtime posting through the real client libraries to the sandbox networks (a real PDS for
// Bluesky), and everything checked on the servers themselves. Runs on SQLite and PostgreSQL.
import { applyPlan, planStatus, reconcileOutbox, startWorkerRuntime } from '@sunset/engine';
import { createRedis, Queues } from '@sunset/queue';
import { startRedisServer, type PrivateRedis } from '@sunset/queue/testing';
import { openTestStore, testDialects, type TestStore } from '@sunset/store/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FAST_LIMITS,
  iso,
  PlanFolder,
  startEngine,
  testLogger as logger,
  type TestEngine,
  postedTexts,
  sandboxesForFile,
  queuesIdle,
  waitFor,
  ORG,
  type PlanPost,
  sandboxFetchAllow,
} from '../support/exit-harness.ts';

const sandboxes = sandboxesForFile();

/** Unique texts: X refuses the same text twice. */
function posts(
  count: number,
  dueAt: string,
  tag: string,
  on: PlanPost['on'] = ['x', 'bluesky', 'mastodon'],
): PlanPost[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tag}-${i + 1}`,
    at: dueAt,
    // Each post its own list: one shared array would be written as YAML aliases.
    on: [...on],
    text: `Post ${i + 1} (${tag}) : la Ville de Test déménage sur Bluesky et Mastodon.`,
  }));
}

const count = (list: readonly string[], text: string) => list.filter((t) => t === text).length;

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(`the exit, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let engine: TestEngine;
    let t: TestStore;
    let queues: Queues;
    let plans: PlanFolder;

    beforeAll(async () => {
      engine = await startEngine(sandboxes, { dialect, runtime: { concurrency: 8 } });
      ({ t, queues, plans } = engine);
    });
    afterEach(async () => {
      sandboxes.x.clearFaults();
      sandboxes.bluesky.clearFaults();
      sandboxes.mastodon.clearFaults();
    });
    afterAll(async () => {
      await engine?.close();
    });

    it('publishes a 20-post plan on 3 networks on time, and a re-applied plan moves only what changed', async () => {
      const tag = `p${dialect}`;
      const sunset = iso(Date.now() + 24 * 3600_000);
      const due = Date.now() + 6_000;
      const v1 = posts(20, iso(due), tag);
      const first = await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset, posts: v1 }),
        actor: 'cli:test',
      });
      // 60 post deliveries and the X policy switch at the sunset.
      expect(first.counts).toMatchObject({ '+': 61, '~': 0, '-': 0 });
      expect(first.queueError).toBeUndefined();

      // Before they are due: two texts edited, one post moved later, one removed, one added.
      const later = iso(due + 3_000);
      const v2: PlanPost[] = v1
        .filter((p) => p.id !== `${tag}-20`)
        .map((p) =>
          p.id === `${tag}-1` || p.id === `${tag}-2`
            ? { ...p, text: `${p.text} (corrigé)` }
            : p.id === `${tag}-3`
              ? { ...p, at: later }
              : p,
        );
      v2.push({
        id: `${tag}-21`,
        at: iso(due),
        on: ['x', 'bluesky', 'mastodon'],
        text: `Post 21 (${tag}) : ajouté.`,
      });
      const second = await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset, posts: v2 }),
        actor: 'cli:test',
      });
      expect(second.counts).toEqual({ '+': 3, '~': 9, '-': 3, '=': 49, '✓': 0 });
      expect(second.version).toBe(2);
      const changed = second.diff.filter((e) => e.mark === '~').map((e) => e.postId);
      expect(new Set(changed)).toEqual(new Set([`${tag}-1`, `${tag}-2`, `${tag}-3`]));

      await waitFor(
        'the 60 post deliveries to be published',
        async () => (await planStatus(t.store, ORG)).counts.published === 60,
        60_000,
      );

      const posted = await postedTexts(sandboxes);
      for (const p of v2) {
        for (const network of ['x', 'bluesky', 'mastodon'] as const) {
          expect(count(posted[network], p.text), `${p.id} on ${network}`).toBe(1);
        }
      }
      for (const gone of [v1[0]!.text, v1[1]!.text, v1[19]!.text]) {
        for (const network of ['x', 'bluesky', 'mastodon'] as const)
          expect(count(posted[network], gone)).toBe(0);
      }
      // Nothing went out before its time; everything within a few seconds of it.
      const deliveries = await t.store.deliveries.list({
        organisationId: ORG,
        source: 'plan',
        status: 'published',
      });
      for (const d of deliveries) {
        for (const part of d.parts) {
          expect(part.publishedAt!.getTime()).toBeGreaterThanOrEqual(d.dueAt.getTime());
          expect(part.publishedAt!.getTime() - d.dueAt.getTime()).toBeLessThan(15_000);
        }
      }

      // Applying the same plan again changes nothing and posts nothing.
      const before = await postedTexts(sandboxes);
      const third = await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset, posts: v2 }),
        actor: 'cli:test',
      });
      expect(third.version).toBeUndefined();
      expect(third.counts['✓']).toBe(60);
      expect(third.counts['+'] + third.counts['~'] + third.counts['-']).toBe(0);
      // A published post edited in the plan is never posted again.
      const edited = v2.map((p) => (p.id === `${tag}-5` ? { ...p, text: `${p.text} (encore)` } : p));
      const fourth = await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset, posts: edited }),
        actor: 'cli:test',
      });
      expect(fourth.counts['~']).toBe(0);
      expect(
        fourth.diff.filter((e) => e.postId === `${tag}-5`).every((e) => e.mark === '✓' && e.reason),
      ).toBe(true);
      await waitFor('the queues to hold no due work', () => queuesIdle(queues), 30_000);
      const after = await postedTexts(sandboxes);
      expect(after.x.length).toBe(before.x.length);
      expect(after.bluesky.length).toBe(before.bluesky.length);
      expect(after.mastodon.length).toBe(before.mastodon.length);

      const audit = await t.store.audit.list({ organisationId: ORG, action: 'delivery.published' });
      expect(audit.length).toBe(60);
      expect((await t.store.verifyAudit()).ok).toBe(true);
    });

    it('keeps the other networks going while one answers 503 for 20 s, and delivers everything after', async () => {
      const tag = `o${dialect}`;
      const sunset = iso(Date.now() + 24 * 3600_000);
      const outageFrom = Date.now();
      sandboxes.mastodon.inject(
        { kind: 'status', status: 503 },
        { times: Infinity, path: '/api/v1/statuses', method: 'POST' },
      );
      const list = posts(5, iso(Date.now() + 1_000), tag);
      await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset, posts: [...list] }, `outage-${dialect}.yaml`),
        actor: 'cli:test',
      });
      await waitFor(
        'X and Bluesky to get the posts during the Mastodon outage',
        async () => {
          const p = await postedTexts(sandboxes);
          return list.every((x) => count(p.x, x.text) === 1 && count(p.bluesky, x.text) === 1);
        },
        15_000,
      );
      expect(Date.now() - outageFrom).toBeLessThan(20_000);
      const during = await postedTexts(sandboxes);
      expect(list.some((x) => during.mastodon.includes(x.text))).toBe(false);
      await new Promise((r) => setTimeout(r, Math.max(0, outageFrom + 20_000 - Date.now())));
      sandboxes.mastodon.clearFaults();
      await waitFor(
        'Mastodon to get every post after the outage',
        async () => {
          const p = await postedTexts(sandboxes);
          return list.every((x) => count(p.mastodon, x.text) === 1);
        },
        90_000,
      );
      const failed = sandboxes.mastodon.received.filter(
        (r) => r.status === 503 && r.time.getTime() >= outageFrom,
      );
      expect(failed.length).toBeGreaterThan(0);
      const attempts = await t.store.audit.list({
        organisationId: ORG,
        action: 'delivery.attempt-failed',
        network: 'mastodon',
      });
      expect(attempts.length).toBeGreaterThanOrEqual(5);
    });

    it('sends nothing to a network before the reset of its 429', async () => {
      const tag = `r${dialect}`;
      const sunset = iso(Date.now() + 24 * 3600_000);
      sandboxes.bluesky.inject(
        { kind: 'rate-limit', resetInSeconds: 5 },
        { path: 'com.atproto.repo.createRecord' },
      );
      const from = Date.now();
      // One post meets the 429; six more fall due while the window is closed.
      const at = Date.now() + 1_000;
      const list = [
        ...posts(1, iso(at), `${tag}0`, ['bluesky']),
        ...posts(3, iso(at + 1_000), `${tag}1`, ['bluesky']),
        ...posts(3, iso(at + 2_000), `${tag}2`, ['bluesky']),
      ];
      await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset, posts: list }, `ratelimit-${dialect}.yaml`),
        actor: 'cli:test',
      });
      await waitFor(
        'the posts to reach Bluesky after the reset',
        async () => {
          const p = await postedTexts(sandboxes);
          return list.every((x) => count(p.bluesky, x.text) === 1);
        },
        30_000,
      );
      const creates = sandboxes.bluesky.received.filter(
        (r) => r.path.includes('com.atproto.repo.createRecord') && r.at.getTime() >= from,
      );
      const limited = creates.find((r) => r.fault === 'rate-limit');
      expect(limited).toBeDefined();
      // From the 429 until its reset (whole seconds, so allow for the rounding), nothing more
      // reaches Bluesky.
      const reset = limited!.at.getTime() + 5_000 - 1_000;
      const early = creates.filter((r) => r.at.getTime() > limited!.at.getTime() && r.at.getTime() < reset);
      expect(
        early.map((r) => `${r.at.getTime() - limited!.at.getTime()} ms after the 429: ${r.path}`),
      ).toEqual([]);
      // The 429 is recorded once. A job already running when it came (more of them on a loaded
      // machine) meets the worker's closed window before it sends, and says so in its own entry.
      const waits = await t.store.audit.list({
        organisationId: ORG,
        action: 'delivery.rate-limited',
        from: new Date(from),
      });
      const gated = (e: (typeof waits)[number]) =>
        /waiting for the rate-limit window to reopen/.test(e.error ?? '');
      expect(waits.filter((e) => !gated(e))).toHaveLength(1);
      // The posts due during the closed window did wait for it.
      const after = creates.filter((r) => r.at.getTime() >= reset && !r.fault);
      expect(after.length).toBeGreaterThanOrEqual(6);
    });
  });
}

describe('the outbox reconciler', () => {
  let t: TestStore;
  let server: PrivateRedis;
  let plans: PlanFolder;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    server = await startRedisServer();
    plans = new PlanFolder(sandboxes);
  });
  afterAll(async () => {
    await server?.cleanup();
    await t?.cleanup();
    plans?.remove();
  });

  it('puts back every delivery Redis lost, and they are published', async () => {
    const producer = createRedis(server.url, { role: 'producer' });
    await new Promise((r) => producer.once('ready', r));
    const queues = new Queues({ connection: producer });
    const list = posts(10, iso(Date.now() + 2_000), 'flush');
    const applied = await applyPlan({
      store: t.store,
      queues,
      plan: plans.write({ sunset: iso(Date.now() + 24 * 3600_000), posts: list }, 'flush.yaml'),
      actor: 'cli:test',
    });
    expect(applied.counts['+']).toBe(31);
    const depths = await queues.depths();
    expect(depths.bluesky.delayed).toBe(10);
    await producer.flushall();
    await queues.close();
    producer.disconnect();

    const connection = createRedis(server.url, { role: 'worker' });
    const runtime = await startWorkerRuntime({
      store: t.store,
      connection,
      logger,
      env: sandboxes.env,
      secretsDir: sandboxes.secretsDir,
      dataDir: plans.dir,
      limits: FAST_LIMITS,
      xCa: sandboxes.x.ca,
      fetchAllow: sandboxFetchAllow(sandboxes),
      reconcileIntervalMs: 0,
    });
    try {
      expect(runtime.firstReconcile.requeued).toBe(31);
      await waitFor(
        'the restored deliveries to be published',
        async () => {
          const p = await postedTexts(sandboxes);
          return list.every(
            (x) =>
              count(p.x, x.text) === 1 && count(p.bluesky, x.text) === 1 && count(p.mastodon, x.text) === 1,
          );
        },
        60_000,
      );
      const requeued = await t.store.audit.list({ organisationId: ORG, action: 'delivery.requeued' });
      expect(requeued.length).toBe(31);
      // A second pass finds nothing missing.
      expect((await runtime.reconcile()).requeued).toBe(0);
    } finally {
      await runtime.close(5_000);
      connection.disconnect();
    }
  });

  it('asks Redis about a backlog a hundred jobs at a time, giving way between them', async () => {
    const producer = createRedis(server.url, { role: 'producer' });
    await new Promise((r) => producer.once('ready', r));
    await producer.flushall();
    const queues = new Queues({ connection: producer });
    try {
      const list = posts(120, iso(Date.now() + 24 * 3600_000), 'chunks');
      await applyPlan({
        store: t.store,
        queues,
        plan: plans.write({ sunset: iso(Date.now() + 48 * 3600_000), posts: list }, 'chunks.yaml'),
        actor: 'cli:test',
      });
      const open = (await t.store.deliveries.listHeads({ status: ['queued', 'sending'] })).length;
      expect(open).toBeGreaterThanOrEqual(360);
      // Redis loses every job at the first pause: whatever the pass reads after it is missing, so
      // the count put back says where the pass stopped to give way.
      let pauses = 0;
      const result = await reconcileOutbox({
        store: t.store,
        queues,
        between: async () => {
          if (pauses++ === 0) await producer.flushall();
        },
      });
      expect(result.checked).toBe(open);
      expect(result.requeued).toBe(open - 100);
      // One pause between each two chunks of at most a hundred, per network.
      expect(pauses).toBeGreaterThanOrEqual(Math.ceil(open / 100) - 1);
      const again = await reconcileOutbox({ store: t.store, queues });
      expect(again.requeued).toBe(100);
    } finally {
      await queues.close();
      producer.disconnect();
    }
  });
});

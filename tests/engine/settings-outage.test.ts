// The worker reads an organisation's plan settings from the store before each delivery. When the
// store does not answer that read (its pool had no connection to give in time, a connection was
// cut), that is an outage, not a verdict on the delivery: it is tried again and lands once. A
// plan the engine cannot use (none applied) still fails for good, at the first attempt.
import { applyPlan } from '@sunset/engine';
import type { Store } from '@sunset/store';
import { testDialects } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  startEngine,
  sandboxesForFile,
  waitFor,
  ORG,
  type TestEngine,
} from '../support/exit-harness.ts';

const sandboxes = sandboxesForFile();

/**
 * The worker's view of the store: the same database, but the next `failures` reads of the
 * organisation's latest plan version answer as pg's pool does when it has no connection to give.
 */
function flakyStore(store: Store): { store: Store; fail(times: number): void; failed(): number } {
  let left = 0;
  let failed = 0;
  const plans = new Proxy(store.plans, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'latestVersion' || typeof value !== 'function') return value;
      return async (organisationId: string, ...rest: unknown[]) => {
        if (organisationId === ORG && left > 0) {
          left -= 1;
          failed += 1;
          throw new Error('timeout exceeded when trying to connect');
        }
        return (value as (...a: unknown[]) => Promise<unknown>).call(target, organisationId, ...rest);
      };
    },
  });
  const wrapped = new Proxy(store, {
    get: (target, prop, receiver) => (prop === 'plans' ? plans : Reflect.get(target, prop, receiver)),
  });
  return {
    store: wrapped,
    fail: (times) => (left = times),
    failed: () => failed,
  };
}

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(
    `a store that does not answer the settings read, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let engine: TestEngine;
      let flaky: ReturnType<typeof flakyStore> | undefined;

      beforeAll(async () => {
        // The runtime works on the flaky view; the test's own reads and the plan go straight in.
        engine = await startEngine(sandboxes, {
          dialect,
          runtime: { networks: ['mastodon'] },
          wrapStore: (store) => {
            flaky = flakyStore(store);
            return flaky.store;
          },
        });
      }, 60_000);
      afterAll(async () => {
        await engine?.close();
      });

      it('tries the delivery again and posts it once', async () => {
        const text = `Collecte des déchets décalée (${dialect}).`;
        const before = sandboxes.mastodon.statuses.filter((s) => s.text.includes(text)).length;
        flaky?.fail(1);
        const plan = engine.plans.write(
          {
            sunset: iso(Date.now() + 30 * 24 * 3600_000),
            posts: [{ id: `collecte-${dialect}`, at: iso(Date.now() - 60_000), on: ['mastodon'], text }],
          },
          `outage-${dialect}.yaml`,
        );
        await applyPlan({ store: engine.t.store, queues: engine.queues, plan, actor: 'cli:test' });
        // An id of its own per dialect: the Mastodon sandbox answers a known idempotency key with the
        // status it already made.
        const id = `${ORG}.post.collecte-${dialect}.mastodon`;
        await waitFor('the delivery to end', async () => {
          const d = await engine.t.store.deliveries.get(id);
          return d?.status === 'published' || d?.status === 'failed';
        });
        const d = await engine.t.store.deliveries.get(id);
        expect(flaky?.failed()).toBe(1);
        expect(d?.status, d?.lastError).toBe('published');
        expect(d?.attempts).toBe(2);
        expect(sandboxes.mastodon.statuses.filter((s) => s.text.includes(text)).length - before).toBe(1);
        const actions = (await engine.t.store.audit.list({ organisationId: ORG }))
          .filter((e) => e.deliveryId === id)
          .map((e) => e.action);
        expect(actions).toContain('delivery.attempt-failed');
        expect(actions).not.toContain('delivery.failed');
      }, 60_000);
    },
  );
}

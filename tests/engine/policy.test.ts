// The sunset policy where posts are sent: after the sunset the worker refuses X anything but
// crisis posts (x_after: crisis-only) or anything at all (x_after: frozen), and records why,
// while Bluesky and Mastodon go on. The validator already refuses such plans at the door, so the
// plan here is built past it, as one in the store could be (applied by an older version, or
// through a path that skipped validation): the worker must hold the line on its own.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyPlan } from '@sunset/engine';
import { readPlanFile, sunsetOf, type Plan, type PlanDocument } from '@sunset/plan';
import type { Queues } from '@sunset/queue';
import { testDialects, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  iso,
  type PlanFolder,
  startEngine,
  type TestEngine,
  postedTexts,
  sandboxesForFile,
  waitFor,
  ORG,
  type PlanOptions,
} from '../support/exit-harness.ts';

const sandboxes = sandboxesForFile();

/** The plan as `plan apply` would hand it over, without the validator's say. */
function unvalidatedPlan(plans: PlanFolder, options: PlanOptions, name: string): Plan {
  const document = plans.document(options) as unknown as PlanDocument;
  const source = stringify(document, { lineWidth: 0 });
  const file = path.join(plans.dir, name);
  writeFileSync(file, source);
  // The validator does refuse it: that is why it is built by hand.
  expect(readPlanFile(file, { now: new Date(0) }).diagnostics.map((d) => d.message)).toContainEqual(
    expect.stringMatching(/this post is due after the sunset/),
  );
  return {
    document,
    file,
    baseDir: plans.dir,
    source,
    sourceHash: createHash('sha256').update(source).digest('hex'),
    sunset: sunsetOf(document),
  };
}

const count = (list: readonly string[], text: string) => list.filter((t) => t === text).length;

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(
    `the sunset policy in the worker, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let engine: TestEngine;
      let t: TestStore;
      let queues: Queues;
      let plans: PlanFolder;

      beforeAll(async () => {
        engine = await startEngine(sandboxes, { dialect });
        ({ t, queues, plans } = engine);
      });
      afterAll(async () => {
        await engine?.close();
      });

      it.each([
        { xAfter: 'crisis-only' as const, why: /X takes crisis posts only after the sunset .*crisis-only/ },
        { xAfter: 'frozen' as const, why: /X is frozen after the sunset .*frozen/ },
      ])(
        'with x_after: $xAfter, skips on X a plan post due after the sunset, and says why',
        async ({ xAfter, why }) => {
          const tag = `${xAfter}-${dialect}`;
          const sunset = Date.now() + 2_000;
          const farewell = {
            id: `adieu-${tag}`,
            at: iso(sunset),
            on: ['x', 'bluesky', 'mastodon'] as const,
            text: `Au revoir X (${tag}) : retrouvez-nous sur Bluesky et Mastodon.`,
          };
          const after = {
            id: `apres-${tag}`,
            at: iso(sunset + 2_000),
            on: ['x', 'bluesky', 'mastodon'] as const,
            text: `Premier message après le départ (${tag}).`,
          };
          const plan = unvalidatedPlan(
            plans,
            {
              sunset: iso(sunset),
              xAfter,
              posts: [
                { ...farewell, on: [...farewell.on] },
                { ...after, on: [...after.on] },
              ],
            },
            `policy-${tag}.yaml`,
          );
          await applyPlan({ store: t.store, queues, plan, actor: 'cli:test' });

          const deliveryOf = async (postId: string, network: 'x' | 'bluesky' | 'mastodon') =>
            (await t.store.deliveries.list({ organisationId: ORG, postId, network }))[0];
          await waitFor(
            'both posts to be settled on every network',
            async () => {
              for (const id of [farewell.id, after.id]) {
                for (const n of ['x', 'bluesky', 'mastodon'] as const) {
                  const d = await deliveryOf(id, n);
                  if (!d || d.status === 'queued' || d.status === 'sending') return false;
                }
              }
              return true;
            },
            30_000,
          );

          // The farewell at the sunset itself goes everywhere, X included.
          for (const n of ['x', 'bluesky', 'mastodon'] as const) {
            expect((await deliveryOf(farewell.id, n))?.status, `farewell on ${n}`).toBe('published');
          }
          // After it, X refuses the plan post; the others take it.
          const skipped = await deliveryOf(after.id, 'x');
          expect(skipped?.status).toBe('skipped');
          expect(skipped?.lastError).toMatch(why);
          expect((await deliveryOf(after.id, 'bluesky'))?.status).toBe('published');
          expect((await deliveryOf(after.id, 'mastodon'))?.status).toBe('published');

          const posted = await postedTexts(sandboxes);
          expect(count(posted.x, farewell.text)).toBe(1);
          expect(count(posted.x, after.text)).toBe(0);
          expect(count(posted.bluesky, after.text)).toBe(1);
          expect(count(posted.mastodon, after.text)).toBe(1);
          // Not even tried: no request to X carried the text.
          const carrying = (text: string) =>
            sandboxes.x.received.filter(
              (r) => r.method === 'POST' && JSON.stringify(r.body ?? '').includes(text),
            );
          expect(carrying(farewell.text).length).toBeGreaterThan(0);
          expect(carrying(after.text)).toEqual([]);

          const audit = await t.store.audit.list({
            organisationId: ORG,
            action: 'delivery.skipped',
            network: 'x',
          });
          const entry = audit.find((a) => a.deliveryId === skipped!.id);
          expect(entry).toBeDefined();
          expect(entry!.outcome).toBe('skipped');
          expect((entry!.details as { reason?: string }).reason).toMatch(why);
          expect(entry!.postId).toBe(after.id);
          expect((await t.store.verifyAudit()).ok).toBe(true);
        },
      );
    },
  );
}

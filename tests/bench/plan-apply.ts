/**
 * Plan apply: a 1,000-post plan (each post on X, Bluesky and Mastodon: 3,000 deliveries, plus
 * the X policy switch at the sunset) applied through the engine's `applyPlan` with the queues,
 * as `sunset plan apply` does after reading the file: compile, one transaction for the plan
 * version, the deliveries and the audit entry, then the BullMQ jobs (delayed: the posts are due
 * over the coming days; no worker runs). Timed: applyPlan only (the YAML was read and validated
 * before, as a separate step whose time is reported beside it). Three figures per run, each on a
 * fresh store and Redis prefix: the first apply, the same plan again (nothing changes), and the
 * plan with 10% of the posts' texts changed (300 deliveries replaced, their jobs too). On SQLite
 * and PostgreSQL. Checked: the diff counts are exactly what each step must give.
 */
import { applyPlan } from '@sunset/engine';
import { readPlanFile, type Plan } from '@sunset/plan';
import { createRedis, Queues } from '@sunset/queue';
import type { Dialect } from '@sunset/store';
import { openTestStore } from '@sunset/store/testing';
import path from 'node:path';
import {
  check,
  fmt,
  iso,
  PlanFolder,
  startSandboxes,
  testRedis,
  type Benchmark,
  type PlanPost,
} from './lib.ts';

const POSTS = 1000;

// One instant for every plan written: were it taken per call, two calls either side of a second
// would move every post by a second, and every delivery would count as changed.
const BASE = Date.now() + 24 * 3600_000;

function posts(changed: number): PlanPost[] {
  const base = BASE;
  return Array.from({ length: POSTS }, (_, i) => ({
    id: `post-${i + 1}`,
    at: iso(base + i * 60_000),
    on: ['x', 'bluesky', 'mastodon'],
    text: `Annonce ${i + 1}${i < changed ? ' (modifiée)' : ''} : nous quittons X, retrouvez-nous sur Bluesky et Mastodon.`,
  }));
}

export const planApply: Benchmark = {
  name: 'plan-apply',
  title: 'Plan apply (1,000 posts, 3,000 deliveries)',
  figures: (['sqlite', 'postgres'] as const).flatMap((d) => [
    { key: `first-${d}`, label: `first apply, ${d}`, unit: 'ms', target: { op: '<=' as const, value: 1000 } },
    {
      key: `same-${d}`,
      label: `unchanged re-apply, ${d}`,
      unit: 'ms',
      target: { op: '<=' as const, value: 200 },
    },
    { key: `ten-${d}`, label: `re-apply with 10% changed, ${d}`, unit: 'ms' },
  ]),
  async run(ctx) {
    const sandboxes = await startSandboxes();
    const plans = new PlanFolder(sandboxes);
    try {
      const sunset = iso(Date.now() + 60 * 24 * 3600_000);
      const t0 = performance.now();
      const first = plans.write({ sunset, posts: posts(0) }, 'first.yaml');
      const readMs = performance.now() - t0;
      const changed = plans.write({ sunset, posts: posts(POSTS / 10) }, 'changed.yaml');
      ctx.fact(`reading and validating the 1,000-post YAML (before apply, not counted): ${fmt(readMs)} ms`);
      // The plans were validated as written; read again as the CLI would, to be sure they are the same.
      check(readPlanFile(path.join(plans.dir, 'first.yaml'), { now: new Date(0) }).plan, 'plan unreadable');
      for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
        for (let run = 1; run <= ctx.runs; run++) {
          const t = await openTestStore(dialect);
          const redis = testRedis();
          const producer = createRedis(redis.url, { role: 'producer' });
          await new Promise((r) => producer.once('ready', r));
          const queues = new Queues({ connection: producer, prefix: redis.prefix, timeoutMs: 30_000 });
          try {
            const timed = async (plan: Plan) => {
              const start = performance.now();
              const result = await applyPlan({ store: t.store, queues, plan, actor: 'cli:bench' });
              check(!result.queueError, `apply could not queue: ${result.queueError}`);
              return { ms: performance.now() - start, counts: result.counts };
            };
            const a = await timed(first);
            check(a.counts['+'] === 3 * POSTS + 1, `first apply added ${a.counts['+']}`);
            const b = await timed(first);
            check(
              b.counts['='] === 3 * POSTS + 1 && b.counts['+'] === 0,
              `re-apply: ${JSON.stringify(b.counts)}`,
            );
            const c = await timed(changed);
            check(c.counts['~'] === (3 * POSTS) / 10, `10% changed: ${JSON.stringify(c.counts)}`);
            const jobs = await queues.depths();
            const delayed =
              (jobs.x['delayed'] ?? 0) + (jobs.bluesky['delayed'] ?? 0) + (jobs.mastodon['delayed'] ?? 0);
            check(delayed === 3 * POSTS + 1, `Redis holds ${delayed} delayed jobs, not ${3 * POSTS + 1}`);
            ctx.record(`first-${dialect}`, a.ms);
            ctx.record(`same-${dialect}`, b.ms);
            ctx.record(`ten-${dialect}`, c.ms);
            ctx.progress(
              `${dialect} run ${run}: first ${fmt(a.ms)} ms, unchanged ${fmt(b.ms)} ms, 10% changed ${fmt(c.ms)} ms`,
            );
          } finally {
            await queues.close();
            producer.disconnect();
            await redis.cleanup();
            await t.cleanup();
          }
        }
      }
    } finally {
      plans.remove();
      await sandboxes.stop();
    }
  },
};

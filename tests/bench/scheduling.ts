/**
 * Scheduling precision: 1,000 plan posts due in the same second (500 on X, 500 on Mastodon, one
 * delivery each), applied through `applyPlan` a few seconds ahead, so they wait in Redis as
 * delayed jobs and BullMQ promotes them all at once (EARLY_START_MS before the due time: the
 * worker takes the first of them early and starts each on its due time). One worker process
 * (spawned from its entry point) at concurrency 64 per network queue, limits raised out of the
 * way (SUNSET_LIMITS), the sandboxes answering at once, a PostgreSQL store. Lag = the part's publishedAt as the store
 * recorded it − the post's due time; figures: the first and the last delivery's lag and the
 * 99th percentile. The last one is mostly throughput: 1,000 deliveries must all go out. The run
 * watches the sandboxes in memory and reads the store once all have landed. Checked: every post
 * at its sandbox exactly once. A warm-up run first (the worker just started): not counted, its
 * p99 reported as the cold figure.
 *
 * The floor (the tool underneath): after each run, the same 1,000 texts as plain BullMQ delayed
 * jobs due in the same second, on queues of their own, taken by baseline-worker.ts at the same
 * concurrency (the connector's call, no store, lease, audit or limiter). Both are timed at the
 * sandboxes (each post's arrival − its due time), the ratio being of their p99s, run by run.
 * Before each apply and each floor run the store and this process are settled (lib.ts,
 * settleRound), as in the crisis benchmark.
 */
import { applyPlan } from '@sunset/engine';
import { publishedTimes, waitForLandings } from './throughput.ts';
import {
  addRawJobs,
  orgEnv,
  check,
  checkExactlyOnce,
  fmt,
  iso,
  landings,
  percentile,
  rawQueues,
  settleRound,
  sleep,
  startBaselineWorker,
  startExit,
  startWorker,
  type Benchmark,
  type Exit,
  type PlanPost,
} from './lib.ts';

const POSTS = 1000;
const LEAD_MS = 6_000;
/** The floor's jobs are added in well under a second: they are due this far ahead. */
const FLOOR_LEAD_MS = 3_000;
const CONCURRENCY = 64;

const postText = (i: number, ref: string) =>
  `Rappel ${i + 1} ref=${ref} : nos comptes Bluesky et Mastodon restent ouverts.`;

/** Each ref's arrival at its sandbox − due (ms); the refs alternate X, Mastodon as the posts do. */
function sandboxLags(landed: ReturnType<typeof landings>, refs: readonly string[], due: number): number[] {
  return refs.map((ref, i) => ((i % 2 ? landed.mastodon : landed.x).get(ref)?.[0] ?? Number.NaN) - due);
}

/** The floor: the same posts as plain BullMQ jobs due in the same second; their lags at the sandboxes. */
async function floorRun(exit: Exit, raw: ReturnType<typeof rawQueues>, run: number): Promise<number[]> {
  const due = Math.ceil((Date.now() + FLOOR_LEAD_MS) / 1000) * 1000;
  const refs = Array.from({ length: POSTS }, (_, i) => `f${run}p${i + 1}`);
  const from = { x: exit.sandboxes.x.posts.length, mastodon: exit.sandboxes.mastodon.statuses.length };
  for (const [n, network] of (['x', 'mastodon'] as const).entries()) {
    const mine = refs.flatMap((ref, i) => (i % 2 === n ? [{ ref, text: postText(i, ref) }] : []));
    await addRawJobs(raw[network], network, mine, due);
  }
  check(
    Date.now() < due - 500,
    `floor run ${run}: adding the jobs took until ${Date.now() - due} ms after the due time`,
  );
  await sleep(due - Date.now());
  await waitForLandings(exit, from, POSTS / 2, `scheduling floor run ${run}`);
  const landed = landings(exit.sandboxes, from);
  checkExactlyOnce(
    `scheduling floor run ${run}`,
    landed,
    refs.filter((_, i) => i % 2 === 0),
    ['x'],
  );
  checkExactlyOnce(
    `scheduling floor run ${run}`,
    landed,
    refs.filter((_, i) => i % 2 === 1),
    ['mastodon'],
  );
  const failed = (await raw.x.getFailedCount()) + (await raw.mastodon.getFailedCount());
  check(failed === 0, `scheduling floor run ${run}: ${failed} jobs failed`);
  return sandboxLags(landed, refs, due);
}

export const scheduling: Benchmark = {
  name: 'scheduling',
  title: 'Scheduling precision (1,000 posts due in the same second)',
  figures: [
    { key: 'first', label: 'lag of the first delivery', unit: 'ms' },
    { key: 'p99', label: 'lag p99', unit: 'ms', target: { op: '<=', value: 500 } },
    { key: 'last', label: 'lag of the last delivery', unit: 'ms' },
    { key: 'p99-cold', label: 'lag p99, cold (the warm-up run, not counted)', unit: 'ms' },
    { key: 'sandbox-p99', label: 'lag p99 at the sandboxes (arrival − due)', unit: 'ms' },
    {
      key: 'floor-p99',
      label: 'floor: plain BullMQ delayed jobs + the connector, no store, lag p99 at the sandboxes',
      unit: 'ms',
    },
    { key: 'ratio-p99', label: 'lag p99 at the sandboxes / floor lag p99', unit: '×' },
  ],
  async run(ctx) {
    const exit = await startExit('postgres');
    const orgs = Array.from({ length: ctx.runs + 1 }, (_, i) => `sched-${i}`);
    const worker = await startWorker(exit, {
      concurrency: CONCURRENCY,
      networks: ['x', 'mastodon'],
      env: orgEnv(exit.sandboxes, orgs),
    });
    const raw = rawQueues(exit);
    const baseline = await startBaselineWorker(exit, raw, CONCURRENCY);
    try {
      const sunset = iso(Date.now() + 30 * 24 * 3600_000);
      // Run 0 is the warm-up.
      for (let run = 0; run <= ctx.runs; run++) {
        // An organisation per run, so that each run's plan holds exactly these 1,000 posts and
        // each run starts as the first burst of an organisation does: its connectors built by its
        // first deliveries. Connections are the worker process's (shared by its organisations):
        // those of the runs before are used again where the sandboxes kept them open.
        const org = `sched-${run}`;
        // Each run starts settled: the last run's writes vacuumed and checkpointed, this process's
        // garbage collected, so that neither half of a round pays for the one before.
        await settleRound(exit);
        // Due on a whole second, LEAD_MS from now: the plan's times have second resolution.
        const due = Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000;
        const batch: PlanPost[] = Array.from({ length: POSTS }, (_, i) => ({
          id: `s${run}-${i + 1}`,
          at: iso(due),
          on: [i % 2 ? 'mastodon' : 'x'],
          text: postText(i, `s${run}p${i + 1}`),
        }));
        const from = { x: exit.sandboxes.x.posts.length, mastodon: exit.sandboxes.mastodon.statuses.length };
        const doc = exit.plans.documentFor(org, { sunset, posts: batch });
        const applied = await applyPlan({
          store: exit.store,
          queues: exit.queues,
          plan: exit.plans.writeDocument(doc, `scheduling-${run}.yaml`),
          actor: 'cli:bench',
        });
        check(applied.counts['+'] === POSTS + 1, `run ${run}: apply added ${applied.counts['+']}`);
        check(
          Date.now() < due - 500,
          `run ${run}: the apply took until ${Date.now() - due} ms after the due time`,
        );
        const ids = new Set(
          (await exit.store.deliveries.list({ organisationId: org, source: 'plan' }))
            .filter((d) => d.postId?.startsWith(`s${run}-`))
            .map((d) => d.id),
        );
        check(ids.size === POSTS, `run ${run}: ${ids.size} deliveries in the store`);
        await sleep(due - Date.now());
        // The sandboxes are watched (in memory) until every post has landed; the store is read
        // only then, so that the watching adds no queries to the run it measures.
        await waitForLandings(exit, from, POSTS / 2, `scheduling run ${run}`);
        const times = await publishedTimes(exit, ids, `scheduling run ${run}`, org);
        const lags = times.map((t) => t - due);
        const refs = batch.map((p) => `s${run}p${p.id.split('-')[1]}`);
        const landed = landings(exit.sandboxes, from);
        checkExactlyOnce(
          `scheduling run ${run}`,
          landed,
          refs.filter((_, i) => i % 2 === 0),
          ['x'],
        );
        checkExactlyOnce(
          `scheduling run ${run}`,
          landed,
          refs.filter((_, i) => i % 2 === 1),
          ['mastodon'],
        );
        const first = Math.min(...lags);
        const last = Math.max(...lags);
        const p99 = percentile(lags, 99);
        const atSandbox = percentile(sandboxLags(landed, refs, due), 99);
        await settleRound(exit);
        const floor = percentile(await floorRun(exit, raw, run), 99);
        if (run === 0) ctx.record('p99-cold', p99);
        else {
          ctx.record('first', first);
          ctx.record('p99', p99);
          ctx.record('last', last);
          ctx.record('sandbox-p99', atSandbox);
          ctx.record('floor-p99', floor);
          ctx.record('ratio-p99', atSandbox / floor);
        }
        ctx.progress(
          `${run === 0 ? 'warm-up' : `run ${run}`}: lag first ${fmt(first)} ms, p99 ${fmt(p99)} ms, last ${fmt(last)} ms; at the sandboxes p99 ${fmt(atSandbox)} ms; floor (plain BullMQ) p99 ${fmt(floor)} ms`,
        );
      }
    } finally {
      await baseline.stop();
      await raw.x.close();
      await raw.mastodon.close();
      await worker.stop();
      await exit.close();
    }
  },
};

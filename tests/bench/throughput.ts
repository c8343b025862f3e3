/**
 * Delivery throughput: deliveries per second that worker processes (services/worker/src/main.ts,
 * spawned as `pnpm worker` runs it) get from the queue to the X and Mastodon sandbox servers,
 * and the same against the tool underneath.
 *
 * Setup: the exit on loopback (X over https and Mastodon sandboxes in the bench process, a real
 * PDS for Bluesky that these runs do not post to), a PostgreSQL store (the production database),
 * one Redis prefix. SUNSET_LIMITS is raised to a million per second per network so that BullMQ's
 * limiter never caps the figure (the real networks' limits are far below any of these numbers).
 * Logs at warn. Each round: the queues are paused, N ordinary deliveries (half X, half Mastodon,
 * one part each) are submitted through the engine's submitPost (stored, audited, queued, due
 * now), the queues are resumed, and the clock runs from the resume to the last post the
 * sandboxes received (their own record, on this process's clock); then the store must say every
 * one of them published. Before the clock starts, the store and this process are settled (lib.ts,
 * settleRound), as in the crisis benchmark: each round updates every one of its deliveries
 * several times, and a PostgreSQL that does not vacuum by itself (autovacuum off) otherwise
 * drags the dead rows of all the rounds before into each one. The first round of a configuration, of DELIVERIES (500), starts the
 * worker's connections, caches and JIT: it is not counted (for c64 its rate is reported as the
 * cold figure); a second one, sized from it to last about `--seconds`, is not counted either, and
 * its (warm) rate sizes the measured rounds to last about `--seconds` each.
 * Configurations: one worker process at concurrency 4, 16, 64 (jobs at once per network queue),
 * two processes at 16, and one process at 64 with the sandboxes answering every post 100 ms late
 * (latency fault on POST /2/tweets and /api/v1/statuses). Checked: every delivery published,
 * every post at its sandbox exactly once. The worker's RSS is read idle (after start) and at the
 * end of each configuration (memory.ts uses it).
 *
 * The tool underneath (c16 and c64): baseline-worker.ts, plain BullMQ workers at the same
 * concurrency per network, each job the same connector call to the same sandboxes, no store.
 * Its jobs (same priority and retention as the worker's, the text in the job) are added to
 * paused queues of their own and timed the same way. Its rounds alternate with the worker's,
 * warm-up included, so that both see the machine in the same state; the ratio is taken round by
 * round (the worker's rate over the baseline's) and its median reported.
 *
 * Beside each round's rate: the CPU per delivery of the worker processes, PostgreSQL (all of its
 * processes), Redis and this process (the sandbox servers), from /proc between the resume and
 * the last landing; a configuration's medians go under the table. `BENCH_CONFIGS=c64,l100c64`
 * (with --only throughput, not written) runs only those configurations, for comparing changes.
 */
import { OrgSettingsCache, submitPost } from '@sunset/engine';
import type { DeliveryStatus } from '@sunset/store';
import {
  addRawJobs,
  check,
  checkExactlyOnce,
  cpuMedians,
  cpuMeter,
  cpuText,
  fmt,
  landings,
  median,
  pidsNamed,
  pool,
  preciseNow,
  rawQueues,
  settleRound,
  startBaselineWorker,
  startExit,
  startWorker,
  ORG,
  type Benchmark,
  type BenchContext,
  waitFor,
  type Exit,
  type Service,
} from './lib.ts';

/** Deliveries of a warm-up round (and of memory.ts's rounds). */
export const DELIVERIES = 500;
/** A measured round's size, whatever the warm-up's rate: bounded both ways. */
const ROUND_MIN = 500;
const ROUND_MAX = 20_000;

interface Config {
  key: string;
  label: string;
  processes: number;
  concurrency: number;
  latencyMs: number;
  /** Measured against baseline-worker.ts at the same concurrency too. */
  baseline?: boolean;
  /** Its warm-up round's rate has a line of its own. */
  cold?: boolean;
}

export const CONFIGS: Config[] = [
  {
    key: 'c4',
    label: '1 worker, concurrency 4, instant servers',
    processes: 1,
    concurrency: 4,
    latencyMs: 0,
  },
  {
    key: 'c16',
    label: '1 worker, concurrency 16, instant',
    processes: 1,
    concurrency: 16,
    latencyMs: 0,
    baseline: true,
  },
  {
    key: 'c64',
    label: '1 worker, concurrency 64, instant',
    processes: 1,
    concurrency: 64,
    latencyMs: 0,
    baseline: true,
    cold: true,
  },
  {
    key: 'p2c16',
    label: '2 workers, concurrency 16 each, instant',
    processes: 2,
    concurrency: 16,
    latencyMs: 0,
  },
  {
    key: 'l100c64',
    label: '1 worker, concurrency 64, servers 100 ms late',
    processes: 1,
    concurrency: 64,
    latencyMs: 100,
  },
];

/** The configurations this run measures: all, or those BENCH_CONFIGS names (see the top). */
const CHOSEN = ((): Config[] => {
  const wanted = process.env['BENCH_CONFIGS']?.split(',').filter(Boolean);
  if (!wanted) return CONFIGS;
  const unknown = wanted.filter((k) => !CONFIGS.some((c) => c.key === k));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_CONFIGS: no configuration ${unknown.join(', ')} (there are ${CONFIGS.map((c) => c.key).join(', ')})`,
    );
  }
  return CONFIGS.filter((c) => wanted.includes(c.key));
})();

/** RSS samples of the worker processes, for memory.ts. */
export const workerRss: { idle: number[]; afterLoad: number[] } = { idle: [], afterLoad: [] };

let serial = 0;

/** The text of the ordinary post with this ref, through the worker or the baseline alike. */
const ordinaryText = (ref: string) => `Message ordinaire ref=${ref} : la médiathèque ouvre à 10 h.`;

/** Submits `count` ordinary posts (one delivery each on X and Mastodon), due now. */
export async function submitOrdinary(
  exit: Exit,
  count: number,
  tag: string,
  lanes = 16,
): Promise<{ refs: string[]; deliveryIds: Set<string> }> {
  const ctx = { store: exit.store, queues: exit.queues, settings: new OrgSettingsCache(exit.store) };
  const refs = Array.from({ length: count }, () => `${tag}${(serial++).toString(36)}`);
  const deliveryIds = new Set<string>();
  await pool(refs, lanes, async (ref) => {
    const r = await submitPost(ctx, {
      organisationId: ORG,
      source: 'ordinary',
      text: ordinaryText(ref),
      networks: ['x', 'mastodon'],
      actor: 'cli:bench',
    });
    check(r.state === 'accepted' && r.deliveries.length === 2, `post ${ref} was not accepted: ${r.state}`);
    for (const d of r.deliveries) deliveryIds.add(d.deliveryId);
  });
  return { refs, deliveryIds };
}

/** Waits until the sandboxes hold `count` more posts each than `from` (cheap: in memory). */
export async function waitForLandings(
  exit: Exit,
  from: { x: number; mastodon: number },
  count: number,
  what: string,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const x = exit.sandboxes.x.posts.length - from.x;
    const m = exit.sandboxes.mastodon.statuses.length - from.mastodon;
    if (x >= count && m >= count) return;
    check(
      Date.now() < deadline,
      `${what}: only ${x} on X and ${m} on Mastodon of ${count} after ${timeoutMs} ms`,
    );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until the store has every one of these deliveries published; returns their publishedAt (ms). */
export async function publishedTimes(
  exit: Exit,
  ids: ReadonlySet<string>,
  what: string,
  organisationId = ORG,
): Promise<number[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const rows = await exit.store.deliveries.list({ organisationId, status: 'published' });
    const times = rows
      .filter((d) => ids.has(d.id))
      .map((d) => d.parts[d.parts.length - 1]?.publishedAt?.getTime() ?? Number.NaN);
    if (times.length === ids.size) return times;
    check(Date.now() < deadline, `${what}: the store has ${times.length}/${ids.size} published`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Waits until none of these deliveries is queued or sending any more, then checks that none
 * ended otherwise than published. Reads only the unfinished and the failed, so that its cost
 * does not grow with the rounds already published.
 */
async function checkPublished(exit: Exit, ids: ReadonlySet<string>, what: string): Promise<void> {
  const mine = async (status: DeliveryStatus[]) =>
    (await exit.store.deliveries.listHeads({ organisationId: ORG, status })).filter((d) => ids.has(d.id));
  await waitFor(
    `${what}: every delivery to end`,
    async () => (await mine(['queued', 'sending'])).length === 0,
    60_000,
  );
  const others = await mine(['failed', 'needs-attention', 'skipped', 'cancelled']);
  check(
    others.length === 0,
    `${what}: ${others.length} deliveries ended ${[...new Set(others.map((d) => d.status))].join(', ')}, not published`,
  );
}

/** The last time any of these refs landed on either sandbox (their clock, preciseNow). */
function lastLanding(landed: ReturnType<typeof landings>, refs: readonly string[]): number {
  let last = -Infinity;
  for (const seen of [landed.x, landed.mastodon])
    for (const ref of refs) for (const at of seen.get(ref) ?? []) last = Math.max(last, at);
  return last;
}

/** CPU per delivery of a round, in µs, by process group (see cpuMeter). */
export type CpuPerDelivery = Record<string, number>;

export interface Round {
  rate: number;
  seconds: number;
  cpu: CpuPerDelivery;
}

/** One measured round with the workers already running: deliveries/s, and where the CPU went. */
export async function measureRound(
  exit: Exit,
  tag: string,
  ctx: BenchContext,
  workers: readonly Service[],
  deliveries = DELIVERIES,
): Promise<Round> {
  const networks = ['x', 'mastodon'] as const;
  for (const n of networks) await exit.queues.queue(n).pause();
  const from = { x: exit.sandboxes.x.posts.length, mastodon: exit.sandboxes.mastodon.statuses.length };
  const { refs, deliveryIds } = await submitOrdinary(exit, deliveries / 2, tag);
  await settleRound(exit);
  const meter = cpuMeter({
    worker: () => workers.map((w) => w.pid),
    postgres: () => pidsNamed('postgres'),
    redis: () => pidsNamed('redis-server'),
    // The sandbox servers (and this loop watching them).
    bench: () => [process.pid],
  });
  const start = preciseNow();
  for (const n of networks) await exit.queues.queue(n).resume();
  await waitForLandings(exit, from, deliveries / 2, tag);
  const cpu = meter.stop(deliveries);
  const landed = landings(exit.sandboxes, from);
  checkExactlyOnce(tag, landed, refs, networks);
  const seconds = (lastLanding(landed, refs) - start) / 1000;
  await checkPublished(exit, deliveryIds, tag);
  const rate = deliveries / seconds;
  ctx.progress(
    `  ${tag}: ${deliveries} deliveries in ${fmt(seconds)} s = ${fmt(rate)}/s; CPU per delivery ${cpuText(cpu)}`,
  );
  return { rate, seconds, cpu };
}

/** One round of the baseline (baseline-worker.ts): the same posts as plain BullMQ jobs. */
async function baselineRound(
  exit: Exit,
  raw: ReturnType<typeof rawQueues>,
  tag: string,
  ctx: BenchContext,
  worker: Service,
  deliveries: number,
): Promise<Round> {
  const networks = ['x', 'mastodon'] as const;
  for (const n of networks) await raw[n].pause();
  const from = { x: exit.sandboxes.x.posts.length, mastodon: exit.sandboxes.mastodon.statuses.length };
  const refs = Array.from({ length: deliveries / 2 }, () => `${tag}${(serial++).toString(36)}`);
  for (const n of networks)
    await addRawJobs(
      raw[n],
      n,
      refs.map((ref) => ({ ref, text: ordinaryText(ref) })),
    );
  await settleRound(exit);
  const meter = cpuMeter({
    baseline: () => [worker.pid],
    redis: () => pidsNamed('redis-server'),
    bench: () => [process.pid],
  });
  const start = preciseNow();
  for (const n of networks) await raw[n].resume();
  await waitForLandings(exit, from, deliveries / 2, tag);
  const cpu = meter.stop(deliveries);
  const landed = landings(exit.sandboxes, from);
  checkExactlyOnce(tag, landed, refs, networks);
  const seconds = (lastLanding(landed, refs) - start) / 1000;
  const failed = (await raw.x.getFailedCount()) + (await raw.mastodon.getFailedCount());
  check(failed === 0, `${tag}: ${failed} baseline jobs failed`);
  const rate = deliveries / seconds;
  ctx.progress(
    `  ${tag} (plain BullMQ): ${deliveries} jobs in ${fmt(seconds)} s = ${fmt(rate)}/s; CPU per job ${cpuText(cpu)}`,
  );
  return { rate, seconds, cpu };
}

/** Deliveries for a measured round of about `seconds` at the warm-up's rate (even: half per network). */
function roundSize(rate: number, seconds: number): number {
  const n = Math.min(ROUND_MAX, Math.max(ROUND_MIN, Math.round(rate * seconds)));
  return n + (n % 2);
}

export const throughput: Benchmark = {
  name: 'throughput',
  title: 'Delivery throughput',
  figures: CHOSEN.flatMap((c) => [
    {
      key: c.key,
      label: `deliveries/s, ${c.label}`,
      unit: 'deliveries/s',
      ...(c.key === 'c64' ? { target: { op: '>=' as const, value: 2000 } } : {}),
      ...(c.key === 'l100c64' ? { target: { op: '>=' as const, value: 500 } } : {}),
    },
    ...(c.cold
      ? [
          {
            key: `${c.key}-cold`,
            label: `deliveries/s, ${c.label}, cold (the warm-up round, not counted)`,
            unit: 'deliveries/s',
          },
        ]
      : []),
    ...(c.baseline
      ? [
          {
            key: `${c.key}-raw`,
            label: `jobs/s, plain BullMQ + the connector, no store, concurrency ${c.concurrency}`,
            unit: 'jobs/s',
          },
          {
            key: `${c.key}-ratio`,
            label: `deliveries/s of the worker / jobs/s of plain BullMQ, concurrency ${c.concurrency}`,
            unit: '×',
            target: { op: '>=' as const, value: 0.5 },
          },
        ]
      : []),
  ]),
  async run(ctx) {
    const exit = await startExit('postgres');
    const raw = rawQueues(exit);
    try {
      for (const config of CHOSEN) {
        const workers: Service[] = [];
        for (let i = 0; i < config.processes; i++)
          workers.push(
            await startWorker(exit, { concurrency: config.concurrency, networks: ['x', 'mastodon'] }),
          );
        const baseline = config.baseline
          ? await startBaselineWorker(exit, raw, config.concurrency)
          : undefined;
        await new Promise((r) => setTimeout(r, 500));
        for (const w of workers) workerRss.idle.push(w.rssMb());
        if (config.latencyMs > 0) {
          exit.sandboxes.x.inject(
            { kind: 'latency', ms: config.latencyMs },
            { times: 1e9, path: '/2/tweets', method: 'POST' },
          );
          exit.sandboxes.mastodon.inject(
            { kind: 'latency', ms: config.latencyMs },
            { times: 1e9, path: '/api/v1/statuses', method: 'POST' },
          );
        }
        ctx.progress(`${config.label}`);
        const warm = await measureRound(exit, `t${config.key}w`, ctx, workers);
        const warmBase = baseline
          ? await baselineRound(exit, raw, `t${config.key}bw`, ctx, baseline, DELIVERIES)
          : undefined;
        if (config.cold) ctx.record(`${config.key}-cold`, warm.rate);
        // A cold round runs at half speed or less (JIT, connections, caches): a second warm-up round,
        // not counted either, sized from it, gives the warm rate that sizes the measured rounds.
        const settled = await measureRound(
          exit,
          `t${config.key}s`,
          ctx,
          workers,
          roundSize(warm.rate, ctx.seconds),
        );
        const settledBase =
          baseline && warmBase
            ? await baselineRound(
                exit,
                raw,
                `t${config.key}bs`,
                ctx,
                baseline,
                roundSize(warmBase.rate, ctx.seconds),
              )
            : undefined;
        const size = roundSize(settled.rate, ctx.seconds);
        const baseSize = settledBase ? roundSize(settledBase.rate, ctx.seconds) : 0;
        const cpus: CpuPerDelivery[] = [];
        const seconds: number[] = [];
        const baseSeconds: number[] = [];
        const baseCpus: CpuPerDelivery[] = [];
        for (let run = 1; run <= ctx.runs; run++) {
          const round = await measureRound(exit, `t${config.key}r${run}`, ctx, workers, size);
          ctx.record(config.key, round.rate);
          cpus.push(round.cpu);
          seconds.push(round.seconds);
          if (baseline) {
            const base = await baselineRound(exit, raw, `t${config.key}b${run}`, ctx, baseline, baseSize);
            ctx.record(`${config.key}-raw`, base.rate);
            ctx.record(`${config.key}-ratio`, round.rate / base.rate);
            baseSeconds.push(base.seconds);
            baseCpus.push(base.cpu);
          }
        }
        const medians = cpuMedians(cpus);
        ctx.fact(
          `${config.label}: ${ctx.runs} rounds of ${size.toLocaleString('en-GB')} deliveries (median ${fmt(
            median(seconds),
          )} s) after warm-up rounds of ${DELIVERIES} at ${fmt(warm.rate)}/s and ${fmt(settled.rate)}/s${
            baseline
              ? `; plain BullMQ rounds of ${baseSize.toLocaleString('en-GB')} jobs (median ${fmt(median(baseSeconds))} s), warm-ups ${fmt(warmBase?.rate ?? Number.NaN)}/s and ${fmt(settledBase?.rate ?? Number.NaN)}/s`
              : ''
          }`,
        );
        ctx.fact(
          `${config.label}: CPU per delivery (medians of the rounds, /proc) ${cpuText(medians)}; total ${fmt(
            Object.values(medians).reduce((a, b) => a + b, 0),
          )} µs`,
        );
        if (baseline) {
          const base = cpuMedians(baseCpus);
          ctx.fact(
            `${config.label}: plain BullMQ's CPU per job (medians of the rounds, /proc) ${cpuText(base)}; total ${fmt(
              Object.values(base).reduce((a, b) => a + b, 0),
            )} µs`,
          );
        }
        for (const w of workers) workerRss.afterLoad.push(w.rssMb());
        ctx.fact(
          `${config.label}: worker RSS ${workers.map((w) => `${fmt(w.rssMb())} MB`).join(', ')} after ${ctx.runs + 2} rounds`,
        );
        exit.sandboxes.x.clearFaults();
        exit.sandboxes.mastodon.clearFaults();
        for (const w of workers) await w.stop();
        await baseline?.stop();
      }
      const verify = await exit.store.verifyAudit();
      check(verify.ok, `the audit chain is broken after the throughput runs: ${JSON.stringify(verify)}`);
    } finally {
      await raw.x.close();
      await raw.mastodon.close();
      await exit.close();
    }
  },
};

/**
 * Delivery throughput: deliveries per second that worker processes (services/worker/src/main.ts,
 * spawned as `pnpm worker` runs it) get from the queue to the X and Mastodon sandbox servers.
 *
 * Setup: the exit on loopback (X over https and Mastodon sandboxes in the bench process, a real
 * PDS for Bluesky that these runs do not post to), a PostgreSQL store (the production database),
 * one Redis prefix. SUNSET_LIMITS is raised to a million per second per network so that BullMQ's
 * limiter never caps the figure (the real networks' limits are far below any of these numbers).
 * Logs at warn. Each run: the queues are paused, DELIVERIES (500) ordinary deliveries (half X, half
 * Mastodon, one part each) are submitted through the engine's submitPost (stored, audited,
 * queued, due now), the queues are resumed, and the clock runs from the resume to the last
 * part's publishedAt as the store recorded it. Configurations: one worker process at
 * concurrency 4, 16, 64 (jobs at once per network queue), two processes at 16, and one process at
 * 64 with the sandboxes answering every post 100 ms late (latency fault on POST /2/tweets and /api/v1/statuses).
 * Checked: every delivery published, every post at its sandbox exactly once. The worker's RSS
 * is read idle (after start) and at the end of each configuration (memory.ts uses it).
 *
 * Beside each round's rate: the CPU per delivery of the worker processes, PostgreSQL (all of its
 * processes), Redis and this process (the sandbox servers), from /proc between the resume and
 * the last landing; a configuration's medians go under the table. `BENCH_CONFIGS=c64,l100c64`
 * (with --only throughput, not written) runs only those configurations, for comparing changes.
 */
import { OrgSettingsCache, submitPost } from '@sunset/engine';
import {
  check,
  checkExactlyOnce,
  cpuMedians,
  cpuMeter,
  cpuText,
  fmt,
  landings,
  pidsNamed,
  pool,
  startExit,
  startWorker,
  ORG,
  type Benchmark,
  type BenchContext,
  type Exit,
  type Service,
} from './lib.ts';

export const DELIVERIES = 500;

interface Config {
  key: string;
  label: string;
  processes: number;
  concurrency: number;
  latencyMs: number;
}

export const CONFIGS: Config[] = [
  {
    key: 'c4',
    label: '1 worker, concurrency 4, instant servers',
    processes: 1,
    concurrency: 4,
    latencyMs: 0,
  },
  { key: 'c16', label: '1 worker, concurrency 16, instant', processes: 1, concurrency: 16, latencyMs: 0 },
  { key: 'c64', label: '1 worker, concurrency 64, instant', processes: 1, concurrency: 64, latencyMs: 0 },
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
      text: `Message ordinaire ref=${ref} : la médiathèque ouvre à 10 h.`,
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

/** CPU per delivery of a round, in µs, by process group (see cpuMeter). */
export type CpuPerDelivery = Record<string, number>;

/** One measured round with the workers already running: deliveries/s, and where the CPU went. */
export async function measureRound(
  exit: Exit,
  tag: string,
  ctx: BenchContext,
  workers: readonly Service[],
): Promise<{ rate: number; cpu: CpuPerDelivery }> {
  const networks = ['x', 'mastodon'] as const;
  for (const n of networks) await exit.queues.queue(n).pause();
  const from = { x: exit.sandboxes.x.posts.length, mastodon: exit.sandboxes.mastodon.statuses.length };
  const { refs, deliveryIds } = await submitOrdinary(exit, DELIVERIES / 2, tag);
  const meter = cpuMeter({
    worker: () => workers.map((w) => w.pid),
    postgres: () => pidsNamed('postgres'),
    redis: () => pidsNamed('redis-server'),
    // The sandbox servers (and this loop watching them).
    bench: () => [process.pid],
  });
  const start = Date.now();
  for (const n of networks) await exit.queues.queue(n).resume();
  await waitForLandings(exit, from, DELIVERIES / 2, tag);
  const cpu = meter.stop(DELIVERIES);
  const times = await publishedTimes(exit, deliveryIds, tag);
  const seconds = (Math.max(...times) - start) / 1000;
  checkExactlyOnce(tag, landings(exit.sandboxes, from), refs, networks);
  const rate = DELIVERIES / seconds;
  ctx.progress(
    `  ${tag}: ${DELIVERIES} deliveries in ${fmt(seconds)} s = ${fmt(rate)}/s; CPU per delivery ${cpuText(cpu)}`,
  );
  return { rate, cpu };
}

export const throughput: Benchmark = {
  name: 'throughput',
  title: 'Delivery throughput',
  figures: CHOSEN.map((c) => ({
    key: c.key,
    label: `deliveries/s, ${c.label}`,
    unit: 'deliveries/s',
    ...(c.key === 'c64' ? { target: { op: '>=' as const, value: 2000 } } : {}),
    ...(c.key === 'l100c64' ? { target: { op: '>=' as const, value: 500 } } : {}),
  })),
  async run(ctx) {
    const exit = await startExit('postgres');
    try {
      for (const config of CHOSEN) {
        const workers: Service[] = [];
        for (let i = 0; i < config.processes; i++)
          workers.push(
            await startWorker(exit, { concurrency: config.concurrency, networks: ['x', 'mastodon'] }),
          );
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
        const cpus: CpuPerDelivery[] = [];
        for (let run = 1; run <= ctx.runs; run++) {
          const round = await measureRound(exit, `t${config.key}r${run}`, ctx, workers);
          ctx.record(config.key, round.rate);
          cpus.push(round.cpu);
        }
        const medians = cpuMedians(cpus);
        ctx.fact(
          `${config.label}: CPU per delivery (medians of the rounds, /proc) ${cpuText(medians)}; total ${fmt(
            Object.values(medians).reduce((a, b) => a + b, 0),
          )} µs`,
        );
        for (const w of workers) workerRss.afterLoad.push(w.rssMb());
        ctx.fact(
          `${config.label}: worker RSS ${workers.map((w) => `${fmt(w.rssMb())} MB`).join(', ')} after ${ctx.runs} rounds`,
        );
        exit.sandboxes.x.clearFaults();
        exit.sandboxes.mastodon.clearFaults();
        for (const w of workers) await w.stop();
      }
      const verify = await exit.store.verifyAudit();
      check(verify.ok, `the audit chain is broken after the throughput runs: ${JSON.stringify(verify)}`);
    } finally {
      await exit.close();
    }
  },
};

/**
 * The API under load: crisis requests accepted per second, and the same against the tool
 * underneath. The API process is spawned from its entry point (services/api/src/server.ts) over
 * a PostgreSQL store and Redis; autocannon (in this process) sends the requests over CONNECTIONS
 * (32) connections kept busy, each a JSON crisis (`POST /v1/crisis`, a crisis token, no
 * Idempotency-Key: each one a new post) to the plan's three crisis networks. No worker runs, so
 * the API has the machine to itself and every accepted crisis stays queued where it can be
 * counted. A fixed count per run rather than a duration: autocannon then waits for every answer,
 * so none is left in flight uncounted. The first run, of WARM_UP (1,000) requests, warms the
 * connections, caches and JIT and is not counted (its rate is reported as the cold figure); a
 * second, sized from it to last about `--seconds`, is not counted either, and its rate sizes the
 * measured runs to last about `--seconds` each. Figure: 202 answers per second of
 * the run's duration. Checked after each run: the store holds exactly one crisis post and three
 * deliveries per 202, and Redis one job per delivery of the run (then drained, so that every run
 * starts on empty queues, as the baseline's do); any answer other than 202 is reported (a
 * 503 would be a refusal, which is allowed, but is counted and shown). Beside each run: the CPU
 * per request of the API process, PostgreSQL, Redis and this process (autocannon), from /proc.
 *
 * The tool underneath: baseline-api.ts, a bare Fastify route that parses the JSON and makes the
 * same Redis add (three crisis jobs through the queue package), no authentication, store or
 * audit, loaded the same way; its runs alternate with the API's, warm-up included, its jobs are
 * counted (one per network per 202) and then drained. The ratio is taken run by run.
 */
import autocannon from 'autocannon';
import { NETWORKS } from '@sunset/core';
import { Queues } from '@sunset/queue';
import {
  check,
  cpuMedians,
  cpuMeter,
  cpuText,
  createToken,
  fmt,
  median,
  pidsNamed,
  startApi,
  startBaselineApi,
  startExit,
  ORG,
  type Benchmark,
  type BenchContext,
  type Exit,
  type Service,
} from './lib.ts';

const CONNECTIONS = 32;
const WARM_UP = 1000;
/** A measured run's size, whatever the warm-up's rate: bounded both ways. */
const RUN_MIN = 1000;
const RUN_MAX = 40_000;

interface Load {
  ok: number;
  seconds: number;
  rps: number;
  p99: number;
  cpu: Record<string, number>;
}

/** `amount` crisis requests over CONNECTIONS connections, timed here. */
async function load(
  ctx: BenchContext,
  tag: string,
  target: { service: Service; base: string },
  amount: number,
  headers: Record<string, string>,
): Promise<Load> {
  // Timed here: autocannon's own `duration` is in whole seconds, too coarse for a run of about a second.
  const meter = cpuMeter({
    [target.service.kind]: () => [target.service.pid],
    postgres: () => pidsNamed('postgres'),
    redis: () => pidsNamed('redis-server'),
    // autocannon
    bench: () => [process.pid],
  });
  const started = performance.now();
  const result = await autocannon({
    url: `${target.base}/v1/crisis`,
    method: 'POST',
    connections: CONNECTIONS,
    amount,
    // autocannon notices the last answer only at its next sample: at the default (1 s) a run
    // was timed up to a second too long, every figure rounded down to 1,000 / whole seconds.
    sampleInt: 10,
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ text: "Alerte canicule : buvez de l'eau, restez au frais." }),
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.stop(amount);
  const ok = result.statusCodeStats?.['202']?.count ?? 0;
  const others = Object.entries(result.statusCodeStats ?? {})
    .filter(([code]) => code !== '202')
    .map(([code, s]) => `${s.count ?? 0}×${code}`);
  const rps = ok / seconds;
  ctx.progress(
    `${tag}: ${ok} × 202 in ${fmt(seconds)} s = ${fmt(rps)}/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; CPU per request ${cpuText(cpu)}${
      others.length ? `, others: ${others.join(', ')}` : ''
    }${result.errors ? `, ${result.errors} connection errors` : ''}`,
  );
  if (others.length || result.errors)
    ctx.fact(
      `${tag}: answers other than 202: ${others.join(', ') || 'none'}; connection errors ${result.errors}`,
    );
  return { ok, seconds, rps, p99: result.latency.p99, cpu };
}

/** Jobs waiting in Redis on these queues (no worker runs: every accepted one is there). */
async function queued(queues: Queues): Promise<number> {
  const depths = await queues.depths();
  return NETWORKS.reduce((sum, n) => sum + (depths[n]['prioritized'] ?? 0) + (depths[n]['waiting'] ?? 0), 0);
}

/**
 * The store holds exactly what the `accepted` 202s so far promised and Redis the jobs of this
 * run's `ok`; then those go, so that each run (the API's and the baseline's alike) starts on
 * empty queues.
 */
async function checkApi(exit: Exit, accepted: number, ok: number, tag: string): Promise<void> {
  const deliveries = await exit.store.deliveries.listHeads({ organisationId: ORG, source: 'crisis' });
  const posts = new Set(deliveries.map((d) => d.postId));
  check(
    posts.size === accepted && deliveries.length === 3 * accepted,
    `${tag}: ${accepted} crises answered 202 in all, the store has ${posts.size} crisis posts and ${deliveries.length} deliveries`,
  );
  const jobs = await queued(exit.queues);
  check(jobs === 3 * ok, `${tag}: the API answered 202 ${ok} times and Redis holds ${jobs} jobs`);
  for (const n of NETWORKS) await exit.queues.queue(n, 'crisis').drain(true);
}

/** The baseline's jobs are all in Redis, one per network per 202; then they go. */
async function checkBaseline(queues: Queues, accepted: number, tag: string): Promise<void> {
  const jobs = await queued(queues);
  check(
    jobs === 3 * accepted,
    `${tag}: the baseline answered 202 ${accepted} times and Redis holds ${jobs} jobs`,
  );
  for (const n of NETWORKS) await queues.queue(n, 'crisis').drain(true);
}

function runSize(rps: number, seconds: number): number {
  return Math.min(RUN_MAX, Math.max(RUN_MIN, Math.round(rps * seconds)));
}

export const apiLoad: Benchmark = {
  name: 'api',
  title: 'API: crisis requests accepted',
  figures: [
    {
      key: 'rps',
      label: 'crisis requests answered 202 per second',
      unit: 'req/s',
      target: { op: '>=', value: 2000 },
    },
    { key: 'p99', label: 'request latency p99 under that load', unit: 'ms' },
    {
      key: 'rps-cold',
      label: 'crisis requests per second, cold (the warm-up run, not counted)',
      unit: 'req/s',
    },
    {
      key: 'rps-raw',
      label: 'requests per second, bare Fastify route making the same Redis add',
      unit: 'req/s',
    },
    {
      key: 'ratio',
      label: 'API req/s / bare Fastify req/s',
      unit: '×',
      target: { op: '>=', value: 0.5 },
    },
  ],
  async run(ctx) {
    const exit = await startExit('postgres');
    const barePrefix = `${exit.redis.prefix}:bare`;
    const bareQueues = new Queues({ connection: exit.producer, prefix: barePrefix, timeoutMs: 30_000 });
    const api = await startApi(exit);
    const bare = await startBaselineApi(exit, barePrefix);
    const token = await createToken(exit.store, 'crisis');
    const auth = { authorization: `Bearer ${token}` };
    let accepted = 0;
    const cpus: Record<string, number>[] = [];
    const seconds: number[] = [];
    const bareSeconds: number[] = [];
    try {
      const warm = await load(ctx, 'warm-up', api, WARM_UP, auth);
      accepted += warm.ok;
      await checkApi(exit, accepted, warm.ok, 'warm-up');
      const warmBare = await load(ctx, 'warm-up, bare Fastify', bare, WARM_UP, auth);
      await checkBaseline(bareQueues, warmBare.ok, 'warm-up, bare Fastify');
      ctx.record('rps-cold', warm.rps);
      // The cold run is slow (JIT, connections, pools): a second one sized from it, not counted
      // either, gives the warm rate that sizes the measured runs.
      const settled = await load(ctx, 'warm-up 2', api, runSize(warm.rps, ctx.seconds), auth);
      accepted += settled.ok;
      await checkApi(exit, accepted, settled.ok, 'warm-up 2');
      const settledBare = await load(
        ctx,
        'warm-up 2, bare Fastify',
        bare,
        runSize(warmBare.rps, ctx.seconds),
        auth,
      );
      await checkBaseline(bareQueues, settledBare.ok, 'warm-up 2, bare Fastify');
      const size = runSize(settled.rps, ctx.seconds);
      const bareSize = runSize(settledBare.rps, ctx.seconds);
      for (let run = 1; run <= ctx.runs; run++) {
        const r = await load(ctx, `run ${run}`, api, size, auth);
        accepted += r.ok;
        await checkApi(exit, accepted, r.ok, `run ${run}`);
        const b = await load(ctx, `run ${run}, bare Fastify`, bare, bareSize, auth);
        await checkBaseline(bareQueues, b.ok, `run ${run}, bare Fastify`);
        ctx.record('rps', r.rps);
        ctx.record('p99', r.p99);
        ctx.record('rps-raw', b.rps);
        ctx.record('ratio', r.rps / b.rps);
        cpus.push(r.cpu);
        seconds.push(r.seconds);
        bareSeconds.push(b.seconds);
      }
      const medians = cpuMedians(cpus);
      ctx.fact(`CPU per request (medians of the runs, /proc): ${cpuText(medians)}`);
      ctx.fact(
        `${CONNECTIONS} connections; runs of ${size.toLocaleString('en-GB')} requests (median ${fmt(median(seconds))} s) after warm-ups of ${WARM_UP.toLocaleString('en-GB')} and ${fmt(settled.ok)}, bare Fastify runs of ${bareSize.toLocaleString('en-GB')} (median ${fmt(median(bareSeconds))} s); ${accepted.toLocaleString('en-GB')} crises accepted and found stored and queued`,
      );
    } finally {
      await api.service.stop();
      await bare.service.stop();
      await bareQueues.close();
      await exit.close();
    }
  },
};

/**
 * The API under load: crisis requests accepted per second. The API process is spawned from its
 * entry point (services/api/src/server.ts) over a PostgreSQL store and Redis; autocannon (in this
 * process) sends REQUESTS (1,000) requests per run over CONNECTIONS (32) connections kept busy, each a
 * JSON crisis (`POST /v1/crisis`, a crisis token, no Idempotency-Key: each one a new post) to the
 * plan's three crisis networks. No worker runs, so the API has the machine to itself and every
 * accepted crisis stays queued where it can be counted. A fixed count rather than a duration: autocannon
 * then waits for every answer, so none is left in flight uncounted. Figure: 202 answers per second of
 * the run's duration. Checked
 * after each run: the store holds exactly one crisis post and three deliveries per 202, and Redis
 * one job per delivery; any answer other than 202 is reported (a 503 would be a refusal, which
 * is allowed, but is counted and shown). Beside each run: the CPU per request of the API process,
 * PostgreSQL, Redis and this process (autocannon), from /proc.
 */
import autocannon from 'autocannon';
import {
  check,
  cpuMedians,
  cpuMeter,
  cpuText,
  createToken,
  fmt,
  pidsNamed,
  startApi,
  startExit,
  ORG,
  type Benchmark,
} from './lib.ts';

const CONNECTIONS = 32;
const REQUESTS = 1000;

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
  ],
  async run(ctx) {
    const exit = await startExit('postgres');
    const api = await startApi(exit);
    const token = await createToken(exit.store, 'crisis');
    let accepted = 0;
    const cpus: Record<string, number>[] = [];
    try {
      for (let run = 1; run <= ctx.runs; run++) {
        // Timed here: autocannon's own `duration` is in whole seconds, too coarse for a run of about a second.
        const meter = cpuMeter({
          api: () => [api.service.pid],
          postgres: () => pidsNamed('postgres'),
          redis: () => pidsNamed('redis-server'),
          // autocannon
          bench: () => [process.pid],
        });
        const started = performance.now();
        const result = await autocannon({
          url: `${api.base}/v1/crisis`,
          method: 'POST',
          connections: CONNECTIONS,
          amount: REQUESTS,
          // autocannon notices the last answer only at its next sample: at the default (1 s) a run
          // was timed up to a second too long, every figure rounded down to 1,000 / whole seconds.
          sampleInt: 10,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text: "Alerte canicule : buvez de l'eau, restez au frais." }),
        });
        const seconds = (performance.now() - started) / 1000;
        const cpu = meter.stop(REQUESTS);
        const ok = result.statusCodeStats?.['202']?.count ?? 0;
        const others = Object.entries(result.statusCodeStats ?? {})
          .filter(([code]) => code !== '202')
          .map(([code, s]) => `${s.count ?? 0}×${code}`);
        accepted += ok;
        const deliveries = await exit.store.deliveries.list({ organisationId: ORG, source: 'crisis' });
        const posts = new Set(deliveries.map((d) => d.postId));
        check(
          posts.size === accepted && deliveries.length === 3 * accepted,
          `run ${run}: ${accepted} crises answered 202 in all, the store has ${posts.size} crisis posts and ${deliveries.length} deliveries`,
        );
        const depths = await exit.queues.depths();
        const jobs = (['x', 'bluesky', 'mastodon'] as const).reduce(
          (sum, n) => sum + (depths[n]['prioritized'] ?? 0) + (depths[n]['waiting'] ?? 0),
          0,
        );
        check(
          jobs === deliveries.length,
          `run ${run}: Redis holds ${jobs} jobs for ${deliveries.length} deliveries`,
        );
        const rps = ok / seconds;
        ctx.record('rps', rps);
        ctx.record('p99', result.latency.p99);
        cpus.push(cpu);
        ctx.progress(
          `run ${run}: ${ok} × 202 in ${fmt(seconds)} s = ${fmt(rps)}/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; CPU per request ${cpuText(cpu)}${
            others.length ? `, others: ${others.join(', ')}` : ''
          }${result.errors ? `, ${result.errors} connection errors` : ''}`,
        );
        if (others.length || result.errors)
          ctx.fact(
            `run ${run}: answers other than 202: ${others.join(', ') || 'none'}; connection errors ${result.errors}`,
          );
      }
      const medians = cpuMedians(cpus);
      ctx.fact(`CPU per request (medians of the runs, /proc): ${cpuText(medians)}`);
      ctx.fact(
        `${CONNECTIONS} connections, ${REQUESTS} requests per run, ${accepted.toLocaleString('en-GB')} crises accepted and found stored and queued`,
      );
    } finally {
      await api.service.stop();
      await exit.close();
    }
  },
};

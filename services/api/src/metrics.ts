/**
 * Prometheus metrics, read when scraped: queue depths per lane from Redis, deliveries per status and the
 * latencies of the last hour from the store (so they cover every worker process, not one), X's
 * spend, pause and 24-hour caps per organisation, the latest follower counts and failed identity
 * checks, and the API's own requests.
 *
 * They cover every organisation of the deployment, so they are served on a listener of the
 * operator's own (buildMetricsApp, loopback by default), never on the public one. The store's
 * figures are read at most once per `cacheMs`, one read at a time: a burst of scrapes costs the
 * store what one scrape does.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { NETWORKS, type Logger } from '@sunset/core';
import { NoPlanError, xStatus, type OrgSettingsCache, type XStatus } from '@sunset/engine/outbox';
import { LANES, type Queues } from '@sunset/queue';
import type { Store } from '@sunset/store';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const QUANTILES = [0.5, 0.95, 0.99];

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/**
 * `load`'s answer, kept for `ms` from when it was asked for; callers meanwhile share the read
 * under way. A failed read is not kept.
 */
function cachedFor<T>(ms: number, clock: () => number, load: () => Promise<T>): () => Promise<T> {
  let kept: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = clock();
    if (!kept || now - kept.at >= ms) {
      const value = load();
      const entry = { at: now, value };
      kept = entry;
      value.catch(() => {
        if (kept === entry) kept = undefined;
      });
    }
    return kept.value;
  };
}

export interface MetricsOptions {
  /** How long the store's figures are kept between reads (default 15 s). */
  cacheMs?: number;
  /** The cache's clock (default Date.now): a test moves it past the interval instead of waiting. */
  clock?: () => number;
  /** Where the organisations' plans are read (their X budget and caps). */
  settings?: OrgSettingsCache;
}

/** Every organisation's X standing, with its plan's X settings when it has a plan. */
async function xStatuses(store: Store, settings: OrgSettingsCache | undefined): Promise<[string, XStatus][]> {
  const now = new Date();
  const result: [string, XStatus][] = [];
  for (const org of await store.organisations.list()) {
    const x = settings
      ? await settings.get(org.id).then(
          (s) => s.document.networks.x,
          (err: unknown) => {
            if (err instanceof NoPlanError) return undefined;
            throw err;
          },
        )
      : undefined;
    result.push([org.id, await xStatus(store, org.id, x, now)]);
  }
  return result;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;

  constructor(store: Store, queues: Queues | undefined, options: MetricsOptions = {}) {
    const cacheMs = options.cacheMs ?? 15_000;
    const clock = options.clock ?? Date.now;
    const byStatus = cachedFor(cacheMs, clock, () => store.deliveries.countByStatus());
    const recent = cachedFor(cacheMs, clock, () =>
      store.deliveries.publishedSince(new Date(Date.now() - 3600_000)),
    );
    const xs = cachedFor(cacheMs, clock, () => xStatuses(store, options.settings));
    const followers = cachedFor(cacheMs, clock, () => store.watch.latestFollowers());
    const identity = cachedFor(cacheMs, clock, async () => {
      const out: [string, number][] = [];
      for (const org of await store.organisations.list()) {
        const [run] = await store.watch.identityChecks(org.id, 1);
        if (run) out.push([org.id, run.failed]);
      }
      return out;
    });
    this.requests = new Counter({
      name: 'sunset_http_requests_total',
      help: 'API requests answered, by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'sunset_http_request_duration_seconds',
      help: 'Time to answer an API request',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    new Gauge({
      name: 'sunset_queue_jobs',
      help: 'Jobs in each network queue, by lane (crisis, ordinary) and state',
      labelNames: ['network', 'lane', 'state'],
      registers: [this.registry],
      async collect() {
        if (!queues?.ready()) return;
        const depths = await queues.laneDepths().catch(() => undefined);
        if (!depths) return;
        for (const network of NETWORKS) {
          for (const lane of LANES) {
            for (const [state, n] of Object.entries(depths[network][lane]))
              this.set({ network, lane, state }, n);
          }
        }
      },
    });
    new Gauge({
      name: 'sunset_deliveries',
      help: 'Deliveries in the store, by network and status',
      labelNames: ['network', 'status'],
      registers: [this.registry],
      async collect() {
        const rows = await byStatus();
        this.reset();
        for (const r of rows) this.set({ network: r.network, status: r.status }, r.count);
      },
    });
    new Gauge({
      name: 'sunset_publish_lag_seconds',
      help: 'From a delivery being due to its first part published, last hour, by network',
      labelNames: ['network', 'quantile'],
      registers: [this.registry],
      async collect() {
        const rows = await recent();
        this.reset();
        for (const network of NETWORKS) {
          const lags = rows
            .filter((r) => r.network === network)
            .map((r) => (r.publishedAt.getTime() - Math.max(r.dueAt.getTime(), r.createdAt.getTime())) / 1000)
            .sort((a, b) => a - b);
          if (lags.length === 0) continue;
          for (const q of QUANTILES) this.set({ network, quantile: String(q) }, quantile(lags, q));
        }
      },
    });
    new Gauge({
      name: 'sunset_crisis_latency_seconds',
      help: 'From a crisis post accepted to published, last hour, by network',
      labelNames: ['network', 'quantile'],
      registers: [this.registry],
      async collect() {
        const rows = (await recent()).filter((r) => r.source === 'crisis');
        this.reset();
        for (const network of NETWORKS) {
          const lags = rows
            .filter((r) => r.network === network)
            .map((r) => (r.publishedAt.getTime() - r.createdAt.getTime()) / 1000)
            .sort((a, b) => a - b);
          if (lags.length === 0) continue;
          for (const q of QUANTILES) this.set({ network, quantile: String(q) }, quantile(lags, q));
        }
      },
    });
    new Gauge({
      name: 'sunset_x_spend_usd',
      help: "What X charged this calendar month (UTC), by organisation, at the operator's prices",
      labelNames: ['organisation'],
      registers: [this.registry],
      async collect() {
        const rows = await xs();
        this.reset();
        for (const [organisation, s] of rows) this.set({ organisation }, s.month.spentMicros / 1_000_000);
      },
    });
    new Gauge({
      name: 'sunset_x_budget_usd',
      help: "The plan's X budget (monthly) and the part of it kept for crises (crisis_reserve), by organisation",
      labelNames: ['organisation', 'part'],
      registers: [this.registry],
      async collect() {
        const rows = await xs();
        this.reset();
        for (const [organisation, s] of rows) {
          if (s.month.budgetMicros === undefined) continue;
          this.set({ organisation, part: 'monthly' }, s.month.budgetMicros / 1_000_000);
          this.set({ organisation, part: 'crisis_reserve' }, (s.month.reserveMicros ?? 0) / 1_000_000);
        }
      },
    });
    new Gauge({
      name: 'sunset_x_credits_exhausted',
      help: 'Whether ordinary X posts are paused because X answered that the credits are spent (1) or not (0)',
      labelNames: ['organisation'],
      registers: [this.registry],
      async collect() {
        const rows = await xs();
        this.reset();
        for (const [organisation, s] of rows) this.set({ organisation }, s.paused ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sunset_x_held_deliveries',
      help: 'Ordinary X posts held for a person until X is resumed, by organisation',
      labelNames: ['organisation'],
      registers: [this.registry],
      async collect() {
        const rows = await xs();
        this.reset();
        for (const [organisation, s] of rows) this.set({ organisation }, s.held);
      },
    });
    new Gauge({
      name: 'sunset_followers',
      help: "Each account's follower count at the worker's latest reading, by organisation and network",
      labelNames: ['organisation', 'network'],
      registers: [this.registry],
      async collect() {
        const rows = await followers();
        this.reset();
        for (const r of rows) this.set({ organisation: r.organisationId, network: r.network }, r.count);
      },
    });
    new Gauge({
      name: 'sunset_identity_checks_failed',
      help: "Identity checks that failed in the organisation's latest run (0: all passed or could not be made)",
      labelNames: ['organisation'],
      registers: [this.registry],
      async collect() {
        const rows = await identity();
        this.reset();
        for (const [organisation, failed] of rows) this.set({ organisation }, failed);
      },
    });
    new Gauge({
      name: 'sunset_x_posts_left',
      help:
        "Posts left in the account's rolling 24 hours under the plan's daily caps, by organisation and kind " +
        '(posts: originals, crisis ones included; ordinary_posts: before the crisis reserve; replies)',
      labelNames: ['organisation', 'kind'],
      registers: [this.registry],
      async collect() {
        const rows = await xs();
        this.reset();
        for (const [organisation, s] of rows) {
          const w = s.window;
          if (w.postsLeft === undefined) continue;
          this.set({ organisation, kind: 'posts' }, w.postsLeft);
          this.set({ organisation, kind: 'ordinary_posts' }, w.ordinaryPostsLeft ?? 0);
          this.set({ organisation, kind: 'replies' }, w.repliesLeft ?? 0);
        }
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The operator's listener: /metrics and nothing else. Its own Fastify instance, so the public
 * app has no /metrics at all and this one no token routes.
 */
export async function buildMetricsApp(metrics: Metrics, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: (logger as FastifyBaseLogger).child({ listener: 'metrics' }),
    // A scrape every few seconds would otherwise fill the log with request lines.
    disableRequestLogging: true,
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.render();
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
  await app.ready();
  return app;
}

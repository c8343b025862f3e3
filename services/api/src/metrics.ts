/**
 * Prometheus metrics, read when scraped: queue depths per lane from Redis, deliveries per status and the
 * latencies of the last hour from the store (so they cover every worker process, not one), and
 * the API's own requests.
 */
import { NETWORKS } from '@sunset/core';
import { LANES, type Queues } from '@sunset/queue';
import type { Store } from '@sunset/store';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const QUANTILES = [0.5, 0.95, 0.99];

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;

  constructor(store: Store, queues: Queues | undefined) {
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
        this.reset();
        for (const r of await store.deliveries.countByStatus())
          this.set({ network: r.network, status: r.status }, r.count);
      },
    });
    const recent = () => store.deliveries.publishedSince(new Date(Date.now() - 3600_000));
    new Gauge({
      name: 'sunset_publish_lag_seconds',
      help: 'From a delivery being due to its first part published, last hour, by network',
      labelNames: ['network', 'quantile'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await recent();
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
        this.reset();
        const rows = (await recent()).filter((r) => r.source === 'crisis');
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
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The tool underneath the worker, for throughput.ts's ratio: plain BullMQ workers (the queue
 * library the worker is built on), one per network at the given concurrency, taking jobs from
 * queues of their own and making for each the call the worker makes, the organisation's X or
 * Mastodon connector publishing the job's text, with no store, lease, audit or limiter. Spawned
 * by the bench (lib.ts, spawnService) with the worker's V8 flags; stops on SIGTERM.
 *
 * Environment: REDIS_URL, BENCH_RAW_PREFIX (Redis key prefix), BENCH_RAW_CONCURRENCY,
 * BENCH_RAW_PLAN (the plan's networks section, as JSON), BENCH_RAW_ORG and SUNSET_SECRETS_DIR
 * (whose credentials the plan's references name), SUNSET_X_CA_FILE, and the sandboxes' variables.
 */
import { readFileSync } from 'node:fs';
import { connectorConfigsFromPlan, loadConnector, type Connector } from '@sunset/networks';
import type { PlanDocument } from '@sunset/plan';
import { createRedis } from '@sunset/queue';
import { Worker } from 'bullmq';
import { RAW_QUEUES, type RawJob } from './baseline-names.ts';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`baseline worker: ${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  const networks = JSON.parse(readFileSync(env('BENCH_RAW_PLAN'), 'utf8')) as PlanDocument['networks'];
  const connectors = {} as Record<keyof typeof RAW_QUEUES, Connector>;
  for (const network of ['x', 'mastodon'] as const) {
    const { configs, problems } = connectorConfigsFromPlan(networks, {
      secrets: {
        organisationId: env('BENCH_RAW_ORG'),
        env: process.env,
        secretsDir: env('SUNSET_SECRETS_DIR'),
      },
      xCa: readFileSync(env('SUNSET_X_CA_FILE'), 'utf8'),
      only: [network],
    });
    const config = configs[0];
    if (!config) throw new Error(`baseline worker: no ${network} connector: ${problems.join('; ')}`);
    connectors[network] = await loadConnector(config);
  }
  const connection = createRedis(env('REDIS_URL'), { role: 'worker', name: 'sunset-bench-baseline' });
  const concurrency = Number(env('BENCH_RAW_CONCURRENCY'));
  const workers = (['x', 'mastodon'] as const).map(
    (network) =>
      new Worker<RawJob>(
        RAW_QUEUES[network],
        async (job) => {
          await connectors[network].publish(
            { text: job.data.text, language: 'fr-FR' },
            { idempotencyKey: job.id ?? job.data.text },
          );
        },
        { connection, prefix: env('BENCH_RAW_PREFIX'), concurrency },
      ),
  );
  for (const w of workers) w.on('error', (err) => process.stderr.write(`baseline worker: ${err.message}\n`));
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  process.once('SIGTERM', () => {
    void Promise.all(workers.map((w) => w.close()))
      .then(() => Promise.all(Object.values(connectors).map((c) => c.close())))
      .finally(() => {
        connection.disconnect();
        process.exit(0);
      });
  });
}

await main();

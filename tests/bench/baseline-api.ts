/**
 * The tool underneath the API, for api-load.ts's ratio: a bare Fastify server (the framework the
 * API is built on) whose POST /v1/crisis parses the JSON body and makes the Redis add the API
 * makes for a crisis to three networks (the queue package's enqueueMany, one job per network
 * in its crisis lane), then answers 202; no authentication, validation, store or audit. Spawned
 * by the bench (lib.ts, spawnService); stops on SIGTERM.
 *
 * Environment: REDIS_URL, SUNSET_QUEUE_PREFIX (a prefix of its own), SUNSET_API_PORT.
 */
import { randomUUID } from 'node:crypto';
import { NETWORKS } from '@sunset/core';
import { createRedis, jobIdFor, PRIORITY, Queues, waitForRedis } from '@sunset/queue';
import Fastify from 'fastify';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`baseline API: ${name} is not set`);
  return value;
}

const redis = createRedis(env('REDIS_URL'), { role: 'producer', name: 'sunset-bench-baseline-api' });
await waitForRedis(redis, env('REDIS_URL'));
const queues = new Queues({ connection: redis, prefix: env('SUNSET_QUEUE_PREFIX') });
const app = Fastify({ logger: false });

app.get('/readyz', async () => ({ ok: true }));
app.post('/v1/crisis', async (request, reply) => {
  const body = request.body as { text?: unknown } | undefined;
  if (typeof body?.text !== 'string') return reply.status(400).send({ error: 'text: a string is needed' });
  const postId = randomUUID();
  const dueAt = new Date();
  await queues.enqueueMany(
    NETWORKS.map((network) => {
      const id = `${postId}.${network}`;
      return {
        id,
        organisationId: 'baseline',
        network,
        dueAt,
        priority: PRIORITY.crisis,
        jobId: jobIdFor(id),
      };
    }),
  );
  return reply.status(202).send({ postId });
});

await app.listen({ host: '127.0.0.1', port: Number(env('SUNSET_API_PORT')) });
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => queues.close())
    .finally(() => {
      redis.disconnect();
      process.exit(0);
    });
});

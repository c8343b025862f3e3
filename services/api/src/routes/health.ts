/**
 * Liveness and readiness (store and Redis answer); no token needed. Prometheus metrics are on the
 * operator's listener (metrics.ts), not here.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { Type } from 'typebox';

export async function healthRoutes(app: FastifyInstance, options: { redis?: Redis | undefined }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const Ready = Type.Object({ status: Type.String(), store: Type.Boolean(), redis: Type.Boolean() });
  r.get(
    '/readyz',
    { schema: { tags: ['health'], security: [], response: { 200: Ready, 503: Ready } } },
    async (_request, reply) => {
      const [store, redis] = await Promise.all([
        app.store.ping(),
        (async () => {
          if (!options.redis || options.redis.status !== 'ready') return false;
          try {
            return (
              (await Promise.race([
                options.redis.ping(),
                new Promise((r) => setTimeout(() => r('timeout'), 1000)),
              ])) === 'PONG'
            );
          } catch {
            return false;
          }
        })(),
      ]);
      const ok = store && redis;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', store, redis });
    },
  );
}

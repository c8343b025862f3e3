/**
 * The API as a Fastify plugin tree, separate from the server that listens (server.ts), so tests
 * build it and call it with `app.inject`. It writes to the store and the queues through the
 * engine's outbox side and never calls a network.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import helmet from 'helmet';
import type { Logger } from '@sunset/core';
import {
  NO_NOTIFICATIONS,
  OrgSettingsCache,
  type NotificationSettings,
  type XPriceTable,
} from '@sunset/engine/outbox';
import type { Queues } from '@sunset/queue';
import type { Store } from '@sunset/store';
import type { Redis } from 'ioredis';
import { authPlugin } from './auth.ts';
import { installErrorHandler } from './errors.ts';
import { assetRoutes } from './routes/assets.ts';
import { audienceRoutes } from './routes/audience.ts';
import { auditRoutes } from './routes/audit.ts';
import { crisisRoutes } from './routes/crisis.ts';
import { findUsRoutes } from './routes/find-us.ts';
import { healthRoutes } from './routes/health.ts';
import { meRoutes } from './routes/me.ts';
import { networkRoutes } from './routes/networks.ts';
import { notificationRoutesPlugin } from './routes/notifications.ts';
import { planRoutes } from './routes/plans.ts';
import { postRoutes } from './routes/posts.ts';
import { queueRoutes } from './routes/queue.ts';
import { Metrics } from './metrics.ts';

export { buildMetricsApp, Metrics } from './metrics.ts';

export interface AppOptions {
  store: Store;
  /** Producer-side queues; undefined or disconnected means every post gets 503. */
  queues: Queues | undefined;
  /** The producer connection, for /readyz. */
  redis?: Redis;
  logger: Logger;
  plansDir: string;
  corsOrigins?: string[];
  bodyLimit?: number;
  authFailuresPerMinute?: number;
  /** The sign-in limiter's window (default a minute; tests use a short one). */
  authWindowMs?: number;
  /** Client addresses the sign-in limiter tracks at most (default 10,000). */
  authMaxAddresses?: number;
  /** Reverse proxies (addresses, CIDRs) whose X-Forwarded-For is believed; none by default. */
  trustProxy?: string[];
  /** How long /metrics keeps the store's figures (default 15 s). */
  metricsCacheMs?: number;
  /** The metrics cache's clock (default Date.now). */
  metricsClock?: () => number;
  /** Audit verifications each organisation may start per minute (default 2). */
  auditVerifyPerMinute?: number;
  /** Where signed audit checkpoints are, and the key that signs them: verify compares with the newest. */
  auditCheckpoints?: { dir: string; key: KeyObject };
  /** X's prices for the costs previews show (default X's published ones). */
  xPrices?: XPriceTable;
  /** The operator's notification settings (SUNSET_NOTIFICATIONS_FILE): shown to, and routed by, the admin role. */
  notifications?: NotificationSettings;
}

declare module 'fastify' {
  interface FastifyInstance {
    store: Store;
    queues: Queues | undefined;
    settings: OrgSettingsCache;
    metrics: Metrics;
  }
}

export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is what Fastify logs with; typed as Fastify's own so plugins keep their defaults.
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 25 * 1024 * 1024,
    // Only the proxies named: `true` would let any client write its own X-Forwarded-For.
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? options.trustProxy : false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('store', options.store);
  app.decorate('queues', options.queues);
  app.decorate('settings', new OrgSettingsCache(options.store));
  app.decorate(
    'metrics',
    new Metrics(options.store, options.queues, {
      ...(options.metricsCacheMs !== undefined ? { cacheMs: options.metricsCacheMs } : {}),
      ...(options.metricsClock ? { clock: options.metricsClock } : {}),
      settings: app.settings,
    }),
  );
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    app.metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    app.metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  installErrorHandler(app);
  // Helmet's headers on every answer, from one middleware built here: building it per request
  // (what @fastify/helmet does) parsed the policy again for every crisis.
  const secureHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        styleSrc: ["'self'", "'unsafe-inline'"],
        scriptSrc: ["'self'"],
        connectSrc: ["'self'"],
      },
    },
  });
  app.addHook('onRequest', (request, reply, done) => {
    secureHeaders(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
  });
  await app.register(cors, {
    origin: options.corsOrigins && options.corsOrigins.length > 0 ? options.corsOrigins : false,
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'sunset API',
        version: '0.1.0',
        description:
          'Crisis messages, ordinary posts mirrored to Bluesky and Mastodon, exit plans and the audit log. ' +
          'Every route but the health checks needs `Authorization: Bearer <token>` (sunset token create).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(authPlugin, {
    store: options.store,
    failuresPerWindow: options.authFailuresPerMinute ?? 10,
    ...(options.authWindowMs !== undefined ? { windowMs: options.authWindowMs } : {}),
    ...(options.authMaxAddresses !== undefined ? { maxAddresses: options.authMaxAddresses } : {}),
  });

  await app.register(healthRoutes, { redis: options.redis });
  await app.register(meRoutes, { prefix: '/v1' });
  await app.register(planRoutes, { prefix: '/v1', plansDir: options.plansDir });
  await app.register(postRoutes, {
    prefix: '/v1',
    ...(options.xPrices ? { xPrices: options.xPrices } : {}),
  });
  await app.register(queueRoutes, { prefix: '/v1' });
  await app.register(crisisRoutes, {
    prefix: '/v1',
    ...(options.xPrices ? { xPrices: options.xPrices } : {}),
  });
  await app.register(auditRoutes, {
    prefix: '/v1',
    verifyPerMinute: options.auditVerifyPerMinute ?? 2,
    ...(options.auditCheckpoints ? { checkpoints: options.auditCheckpoints } : {}),
  });
  await app.register(assetRoutes, { prefix: '/v1', plansDir: options.plansDir });
  await app.register(networkRoutes, { prefix: '/v1' });
  await app.register(audienceRoutes, { prefix: '/v1' });
  await app.register(notificationRoutesPlugin, {
    prefix: '/v1',
    settings: options.notifications ?? NO_NOTIFICATIONS,
  });
  await app.register(findUsRoutes);
  if (existsSync(PUBLIC_DIR)) {
    await app.register(fastifyStatic, { root: path.resolve(PUBLIC_DIR), prefix: '/', index: 'index.html' });
  }
  return app;
}

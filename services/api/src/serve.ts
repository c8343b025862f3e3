/**
 * The API process: reads its configuration, opens the store and a producer connection to Redis,
 * builds the app and listens, until SIGTERM or SIGINT. Redis being away at start is not fatal:
 * reads and plan applies still work, and posts get 503 until it answers.
 */
import { configOrExit, createLogger, onShutdown } from '@sunset/core';
import { checkRedis, createRedis, Queues } from '@sunset/queue';
import { openStoreOrExit } from '@sunset/store';
import { buildApp } from './app.ts';
import { buildMetricsApp } from './metrics.ts';
import { API_ENV_HELP, readApiConfig } from './config.ts';

async function main(): Promise<void> {
  const config = configOrExit(readApiConfig, 'sunset api', API_ENV_HELP);
  const logger = createLogger({ name: 'sunset-api', level: config.logLevel });
  const store = await openStoreOrExit(
    {
      url: config.databaseUrl,
      ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
      // A crisis request's token read and its write stay connected through quiet hours.
      keepConnections: 2,
      applicationName: 'sunset-api',
    },
    logger,
  );
  const redis = createRedis(config.redisUrl, { role: 'producer', name: 'sunset-api' });
  const checkNow = async (): Promise<void> => {
    try {
      const check = await checkRedis(redis, {
        production: config.production,
        persistenceCheck: config.redisPersistenceCheck,
      });
      for (const warning of check.warnings) logger.warn(warning);
      logger.info({ maxmemoryPolicy: check.policy, persistence: check.persistence }, 'Redis checked');
    } catch (err) {
      logger.fatal({ err: (err as Error).message }, 'Redis would lose jobs');
      process.exit(69);
    }
  };
  // The first connection attempt settles before the API listens, so a Redis that would lose
  // jobs is refused before any request can queue one; a Redis that is away is checked when it comes.
  const firstAttempt = await new Promise<'ready' | 'away'>((resolve) => {
    if (redis.status === 'ready') return resolve('ready');
    const onReady = () => {
      redis.off('error', onError);
      resolve('ready');
    };
    const onError = () => {
      redis.off('ready', onReady);
      resolve('away');
    };
    redis.once('ready', onReady);
    redis.once('error', onError);
  });
  if (firstAttempt === 'ready') await checkNow();
  else {
    logger.warn('Redis is not answering yet: posts get 503 until it does');
    redis.once('ready', () => void checkNow());
  }
  const queues = new Queues({
    connection: redis,
    ...(config.queuePrefix ? { prefix: config.queuePrefix } : {}),
  });
  const app = await buildApp({
    store,
    queues,
    redis,
    logger,
    plansDir: config.plansDir,
    corsOrigins: config.corsOrigins,
    bodyLimit: config.bodyLimit,
    authFailuresPerMinute: config.authFailuresPerMinute,
    trustProxy: config.trustProxy,
    auditVerifyPerMinute: config.auditVerifyPerMinute,
    xPrices: config.xPrices,
    ...(config.auditCheckpoints ? { auditCheckpoints: config.auditCheckpoints } : {}),
    notifications: config.notifications,
  });
  await app.listen({ host: config.host, port: config.port });
  // Every organisation's figures: on the operator's own listener, never the public one.
  const metricsAt = config.metricsListen;
  const operator = metricsAt ? await buildMetricsApp(app.metrics, logger) : undefined;
  if (operator && metricsAt) {
    await operator.listen(metricsAt).catch((err: unknown) => {
      logger.fatal(
        { err: (err as Error).message },
        `cannot listen for metrics on ${metricsAt.host}:${metricsAt.port} (SUNSET_METRICS_LISTEN)`,
      );
      process.exit(69);
    });
  }

  onShutdown(logger, [
    async () => {
      await operator?.close();
      await app.close();
    },
    () => queues.close(),
    () => store.close(),
    () => redis.quit(),
  ]);
}

main().catch((err: unknown) => {
  process.stderr.write(`sunset api: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(70);
});

/**
 * The worker process: reads its configuration, opens the store and Redis, checks Redis will
 * not evict jobs and keeps them on disk, then runs the engine's worker runtime until SIGTERM or SIGINT.
 */
import { rmSync, writeFileSync } from 'node:fs';
import type { renderProfileImage } from '@sunset/assets';
import { configOrExit, createLogger, developmentStateKey, onShutdown } from '@sunset/core';
import { startWorkerRuntime } from '@sunset/engine';
import { checkRedis, createRedis, RedisSetupError, waitForRedis } from '@sunset/queue';
import type { Redis } from 'ioredis';
import { openStore, openStoreOrExit, StoreError } from '@sunset/store';
import { startAuditCheckpoints } from './audit-checkpoints.ts';
import { readWorkerConfig, WORKER_ENV_HELP } from './config.ts';

/**
 * The profile image renderer (resvg, sharp and the fonts: about 65 MB of RSS at import, measured), loaded by the
 * first profile job that generates an image rather than at start: most workers never render one.
 */
const renderImage: typeof renderProfileImage = async (request) =>
  (await import('@sunset/assets')).renderProfileImage(request);

async function main(): Promise<void> {
  const config = configOrExit(readWorkerConfig, 'sunset worker', WORKER_ENV_HELP);
  const logger = createLogger({ name: 'sunset-worker', level: config.logLevel });
  // Production has its key from the configuration; development falls back to the data folder's.
  const stateKey = config.stateKey
    ? { key: config.stateKey, source: config.stateKeySource ?? 'SUNSET_STATE_KEY' }
    : developmentStateKey(config.dataDir);
  if ('problem' in stateKey) {
    logger.fatal({ problem: stateKey.problem }, 'cannot start: state key');
    process.exit(78);
  }
  logger.info({ stateKey: stateKey.source }, 'Bluesky sessions in the store are sealed with the state key');
  const redis = createRedis(config.redisUrl, { role: 'worker', name: 'sunset-worker' });
  try {
    await waitForRedis(redis, config.redisUrl, 10_000);
    const check = await checkRedis(redis, {
      production: config.production,
      persistenceCheck: config.redisPersistenceCheck,
    });
    for (const warning of check.warnings) logger.warn(warning);
    logger.info({ maxmemoryPolicy: check.policy, persistence: check.persistence }, 'Redis checked');
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start: Redis');
    redis.disconnect();
    process.exit(69);
  }
  const where = {
    url: config.databaseUrl,
    ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
  };
  // A claim and a finish side by side stay connected through quiet hours (store: keepConnections).
  const store = await openStoreOrExit(
    { ...where, keepConnections: 2, applicationName: 'sunset-worker' },
    logger,
    () => redis.disconnect(),
  );
  for (const warning of await store.upkeepWarnings().catch(() => [])) logger.warn(`WARNING: ${warning}`);
  // The crisis lane's own small pool (PostgreSQL): its claim and finish never wait for a
  // connection that ordinary jobs hold. SQLite has one connection per process: shared.
  const crisisStore =
    store.dialect === 'postgres' && config.crisisPoolSize > 0
      ? await openStore({
          ...where,
          migrate: false,
          poolSize: config.crisisPoolSize,
          // Every one of them open and kept: a crisis comes after hours of nothing and must not
          // wait for a new server process.
          keepConnections: config.crisisPoolSize,
          applicationName: 'sunset-worker-crisis',
          // A crisis's deliveries to the networks are claimed side by side, not one after the other.
          claimsAtOnce: Math.min(config.networks.length, config.crisisPoolSize),
        })
      : undefined;
  // BullMQ workers take jobs as soon as they exist, before the runtime has finished starting: the
  // signal handlers are in place first, so a SIGTERM in that window still lets running jobs end.
  const starting = startWorkerRuntime({
    store,
    ...(crisisStore ? { crisisStore } : {}),
    connection: redis,
    ...(config.queuePrefix ? { prefix: config.queuePrefix } : {}),
    logger,
    env: config.env,
    secretsDir: config.secretsDir,
    dataDir: config.dataDir,
    renderImage,
    networks: config.networks,
    concurrency: config.concurrency,
    crisisConcurrency: config.crisisConcurrency,
    limits: config.limits,
    lockDurationMs: config.lockDurationMs,
    crisisLockDurationMs: config.crisisLockDurationMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
    ...(config.xCa ? { xCa: config.xCa } : {}),
    stateKey: stateKey.key,
    ...(config.networkTimeoutMs ? { networkTimeoutMs: config.networkTimeoutMs } : {}),
    connectorIdleMs: config.connectorIdleMs,
    fetchAllow: config.fetchAllow,
    linkCards: config.linkCards,
    xPrices: config.xPrices,
    feeds: config.feeds ? { timeoutMs: config.feedTimeoutMs } : false,
    notifications: { settings: config.notifications },
    ...(config.watch ? { watch: config.watch } : {}),
  });

  const checkpoints = config.auditCheckpoints
    ? startAuditCheckpoints({ store, ...config.auditCheckpoints, logger })
    : undefined;
  if (!checkpoints && config.production) {
    logger.warn(
      'no signed audit checkpoints (SUNSET_AUDIT_SIGNING_KEY_FILE, SUNSET_AUDIT_CHECKPOINT_DIR): whoever can write ' +
        'to the database can rewrite the audit log undetected; see docs/audit.md',
    );
  }

  const heartbeat = config.heartbeatFile ? startHeartbeat(config.heartbeatFile, redis) : undefined;

  onShutdown(logger, [
    async () => heartbeat?.stop(),
    async () => checkpoints?.stop(),
    async () => (await starting).close(config.shutdownGraceMs),
    () => store.close(),
    async () => crisisStore?.close(),
    () => redis.quit(),
  ]);
  await starting;
}

/**
 * Touches the file every 10 s while Redis answers, so that a health check outside the process
 * (the image's) can tell a worker that runs from one that hangs or has lost its queues.
 */
function startHeartbeat(file: string, redis: Redis): { stop: () => void } {
  const beat = () => {
    if (redis.status !== 'ready') return;
    try {
      writeFileSync(file, `${new Date().toISOString()}\n`);
    } catch {
      // An unwritable file ages, and the health check then says so; the worker goes on.
    }
  };
  beat();
  const timer = setInterval(beat, 10_000);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      rmSync(file, { force: true });
    },
  };
}

main().catch((err: unknown) => {
  const message =
    err instanceof RedisSetupError || err instanceof StoreError
      ? err.message
      : String((err as Error).stack ?? err);
  process.stderr.write(`sunset worker: ${message}\n`);
  process.exit(70);
});

/**
 * One way to connect to Redis. Workers block on Redis and must never give up a command
 * (`maxRetriesPerRequest: null`); producers (the API, plan apply) must fail fast when Redis is
 * away (`enableOfflineQueue: false`) so that nobody is told "accepted" for a job that is not.
 */
import { Redis } from 'ioredis';
import { SunsetError } from '@sunset/core';

export class RedisSetupError extends SunsetError {
  constructor(message: string, options?: ErrorOptions) {
    super('redis', message, options);
  }
}

export type RedisRole = 'worker' | 'producer';

/** How to start a Redis the toolkit can use, on the port of `url` when one is given. */
export function startRedisHint(url?: string): string {
  let port = '6379';
  try {
    if (url) port = new URL(url).port || '6379';
  } catch {
    // A URL that does not parse keeps the default port in the hint.
  }
  return (
    `start one with: redis-server --daemonize yes --bind 127.0.0.1 --port ${port} --maxmemory-policy noeviction ` +
    '--appendonly yes (or docker compose up -d redis)'
  );
}

export const START_REDIS_HINT = startRedisHint();

/** The URL as it may be shown: without its password. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export function createRedis(url: string, options: { role: RedisRole; name?: string }): Redis {
  const common = {
    connectionName: options.name ?? `sunset-${options.role}`,
    lazyConnect: false,
  };
  const redis =
    options.role === 'worker'
      ? new Redis(url, { ...common, maxRetriesPerRequest: null })
      : new Redis(url, {
          ...common,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 5_000,
        });
  // Connection errors are reported by the commands that fail; an unhandled 'error' event
  // would otherwise crash the process while ioredis reconnects.
  redis.on('error', () => undefined);
  return redis;
}

/** Waits until the connection is ready, or fails with a message that says how to start Redis. */
export async function waitForRedis(redis: Redis, url: string, timeoutMs = 5_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new RedisSetupError(`Redis is not answering at ${describeRedisUrl(url)}; ${startRedisHint(url)}`),
      );
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

export interface RedisCheck {
  policy: string;
  /** What Redis keeps on disk: "aof", "rdb", "aof+rdb", "none", or "unknown" when it cannot be read. */
  persistence: RedisPersistence;
  /** Set when Redis can lose jobs and this is not production (where it is refused), or the operator allowed it. */
  warnings: string[];
}

export type RedisPersistence = 'aof' | 'rdb' | 'aof+rdb' | 'none' | 'unknown' | 'not checked';

export interface RedisCheckOptions {
  production: boolean;
  /**
   * SUNSET_REDIS_PERSISTENCE_CHECK: "off" when the operator vouches for a Redis whose
   * persistence cannot be read (CONFIG disabled) or accepts one that keeps nothing: never refused.
   */
  persistenceCheck?: 'on' | 'off';
}

/**
 * Redis must never evict keys: an evicted job is a lost post. Nor should it keep nothing on
 * disk: a restart would empty every queue. In production either stops start-up; elsewhere it is
 * a loud warning.
 */
export async function checkRedis(redis: Redis, options: RedisCheckOptions): Promise<RedisCheck> {
  const policy = await evictionPolicy(redis);
  const warnings: string[] = [];
  if (policy !== 'noeviction') {
    const message =
      `Redis' maxmemory-policy is "${policy}": under memory pressure Redis would delete queued jobs. ` +
      'Set it to noeviction (redis.conf: maxmemory-policy noeviction, or CONFIG SET maxmemory-policy noeviction).';
    if (options.production) throw new RedisSetupError(`refusing to run: ${message}`);
    warnings.push(`WARNING: ${message}`);
  }
  const checked = options.persistenceCheck !== 'off';
  const found = await persistence(redis);
  if (found.kind !== 'none' && found.kind !== 'unknown') return { policy, persistence: found.kind, warnings };
  const message =
    found.kind !== 'unknown'
      ? `Redis keeps nothing on disk (appendonly no, no RDB save points): ${RESTART_LOSES_JOBS} ` +
        'Turn on the append-only file (redis.conf: appendonly yes, or CONFIG SET appendonly yes).'
      : `cannot tell whether Redis keeps its data on disk (${found.why}): ${RESTART_LOSES_JOBS} ` +
        'Allow CONFIG GET, or, when the Redis is known to persist (a managed service with AOF), ' +
        'set SUNSET_REDIS_PERSISTENCE_CHECK=off.';
  if (!checked) {
    warnings.push(`WARNING (SUNSET_REDIS_PERSISTENCE_CHECK=off): ${message}`);
    return { policy, persistence: 'not checked', warnings };
  }
  if (options.production) {
    throw new RedisSetupError(
      `refusing to run: ${message}` +
        (found.kind === 'none' ? ' (SUNSET_REDIS_PERSISTENCE_CHECK=off runs anyway, at that risk.)' : ''),
    );
  }
  warnings.push(`WARNING: ${message}`);
  return { policy, persistence: found.kind, warnings };
}

const RESTART_LOSES_JOBS =
  "a Redis restart loses every queued job. The worker's reconciler puts open deliveries back from " +
  'the store only at its next pass (SUNSET_RECONCILE_INTERVAL_MS), so until then scheduled posts ' +
  'miss their time and crisis parts wait, and attempts and back-offs start over.';

async function evictionPolicy(redis: Redis): Promise<string> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    return reply[1] ?? 'unknown';
  } catch (err) {
    // Managed Redis services often forbid CONFIG; INFO still tells the policy.
    const info = await redis.info('memory').catch(() => '');
    const m = /maxmemory_policy:(\S+)/.exec(info);
    if (!m?.[1]) {
      throw new RedisSetupError(`cannot read Redis' maxmemory-policy: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return m[1];
  }
}

async function persistence(
  redis: Redis,
): Promise<{ kind: 'aof' | 'rdb' | 'aof+rdb' | 'none' } | { kind: 'unknown'; why: string }> {
  try {
    const aof = ((await redis.config('GET', 'appendonly')) as string[])[1];
    const save = ((await redis.config('GET', 'save')) as string[])[1];
    if (aof === undefined || save === undefined)
      return { kind: 'unknown', why: 'CONFIG GET answered nothing' };
    const hasAof = aof === 'yes';
    const hasRdb = save.trim() !== '';
    return { kind: hasAof && hasRdb ? 'aof+rdb' : hasAof ? 'aof' : hasRdb ? 'rdb' : 'none' };
  } catch (err) {
    // Without CONFIG, INFO still shows the append-only file; RDB save points it does not show.
    const info = await redis.info('persistence').catch(() => '');
    if (/^aof_enabled:1\s*$/m.test(info)) return { kind: 'aof' };
    return { kind: 'unknown', why: `CONFIG GET refused: ${(err as Error).message}` };
  }
}

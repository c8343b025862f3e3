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
  /** Set when the policy can lose jobs and this is not production (where it is refused). */
  warning?: string;
}

/**
 * Redis must never evict keys: an evicted job is a lost post. In production a wrong
 * `maxmemory-policy` stops start-up; elsewhere it is a loud warning.
 */
export async function checkRedis(redis: Redis, options: { production: boolean }): Promise<RedisCheck> {
  let policy: string;
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1] ?? 'unknown';
  } catch (err) {
    // Managed Redis services often forbid CONFIG; INFO still tells the policy.
    const info = await redis.info('memory').catch(() => '');
    const m = /maxmemory_policy:(\S+)/.exec(info);
    if (!m?.[1]) {
      throw new RedisSetupError(`cannot read Redis' maxmemory-policy: ${(err as Error).message}`, {
        cause: err,
      });
    }
    policy = m[1];
  }
  if (policy === 'noeviction') return { policy };
  const message =
    `Redis' maxmemory-policy is "${policy}": under memory pressure Redis would delete queued jobs. ` +
    'Set it to noeviction (redis.conf: maxmemory-policy noeviction, or CONFIG SET maxmemory-policy noeviction).';
  if (options.production) throw new RedisSetupError(`refusing to run: ${message}`);
  return { policy, warning: `WARNING: ${message}` };
}

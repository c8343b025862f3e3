/**
 * The deployment's state as the CLI reaches it: the store (the truth) and, where a command
 * changes what is scheduled, the job queues in Redis. Each is opened for one command and
 * closed after it, with errors that say what to start or set.
 */
import { createRedis, Queues, describeRedisUrl, startRedisHint, waitForRedis } from '@sunset/queue';
import { describeUrl, openStore, type Store } from '@sunset/store';
import type { Redis } from 'ioredis';
import { CliExit } from './exit.ts';
import type { Io } from './io.ts';

export async function withStore<T>(io: Io, fn: (store: Store) => Promise<T>): Promise<T> {
  if (io.config.databaseProblem) throw new CliExit(78, `sunset: ${io.config.databaseProblem}`);
  let store: Store;
  try {
    store = await openStore({
      url: io.config.databaseUrl,
      ...(io.config.databaseSchema ? { schema: io.config.databaseSchema } : {}),
    });
  } catch (err) {
    throw new CliExit(
      69,
      `sunset: cannot open the store at ${describeUrl(io.config.databaseUrl)}: ${(err as Error).message}\n` +
        'Set DATABASE_URL to a SQLite file path or a postgres:// URL.',
    );
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * The queues, or undefined (with the reason) when Redis is not answering: commands that can do
 * their part in the store go on, and the worker's reconciler enqueues what is missing.
 */
export async function withQueues<T>(
  io: Io,
  fn: (queues: Queues | undefined, problem: string | undefined) => Promise<T>,
): Promise<T> {
  const redis: Redis = createRedis(io.config.redisUrl, { role: 'producer', name: 'sunset-cli' });
  try {
    let queues: Queues | undefined;
    let problem: string | undefined;
    try {
      await waitForRedis(redis, io.config.redisUrl, 3_000);
      queues = new Queues({
        connection: redis,
        ...(io.config.queuePrefix ? { prefix: io.config.queuePrefix } : {}),
      });
    } catch {
      problem = `Redis is not answering at ${describeRedisUrl(io.config.redisUrl)}; ${startRedisHint(io.config.redisUrl)}`;
    }
    try {
      return await fn(queues, problem);
    } finally {
      await queues?.close();
    }
  } finally {
    redis.disconnect();
  }
}

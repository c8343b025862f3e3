/**
 * Test fixtures: a Redis key prefix of a test's own (its keys removed afterwards, nobody
 * else's touched), and a private redis-server on a free port for tests that flush or kill it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env['SUNSET_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export function testPrefix(): string {
  return `sunset-test-${randomBytes(5).toString('hex')}`;
}

/** Deletes every key under `prefix` (SCAN, never FLUSH). */
export async function removePrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops it (SIGKILL when `kill`), keeping the port for a restart. */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Starts it again on the same port (after stop). */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A redis-server of the test's own (noeviction, nothing on disk), stopped by cleanup(). */
export async function startRedisServer(extraArgs: string[] = []): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-redis-'));
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;

  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--maxmemory-policy',
        'noeviction',
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.end();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (options: { kill?: boolean } = {}) => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(options.kill ? 'SIGKILL' : 'SIGTERM');
    });
    child = undefined;
  };

  await start();
  return {
    url,
    port,
    stop,
    start,
    async cleanup() {
      await stop({ kill: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

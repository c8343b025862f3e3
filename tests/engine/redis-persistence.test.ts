// A Redis that keeps nothing on disk loses every queued job when it restarts: the worker and the
// API refuse one in production (exit 69, as for an evicting Redis), and only warn in development.
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { startRedisServer, testPrefix, type PrivateRedis } from '@sunset/queue/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ENTRY,
  startService,
  STATE_KEY_HEX,
  waitFor,
  WORKER_ENTRY,
  type ServiceProcess,
} from '../support/exit-harness.ts';

let t: TestStore;
let volatile: PrivateRedis;
let persistent: PrivateRedis;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  t = await openTestStore('sqlite');
  // startRedisServer's own defaults: --save "" --appendonly no.
  volatile = await startRedisServer();
  persistent = await startRedisServer(['--appendonly', 'yes']);
});
afterAll(async () => {
  for (const s of running) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGTERM');
      await s.exited();
    }
  }
  await volatile?.cleanup();
  await persistent?.cleanup();
  await t?.cleanup();
});

function start(entry: string, redisUrl: string, env: Record<string, string>): ServiceProcess {
  const service = startService(entry, {
    DATABASE_URL: t.url,
    REDIS_URL: redisUrl,
    SUNSET_QUEUE_PREFIX: testPrefix(),
    SUNSET_STATE_KEY: STATE_KEY_HEX,
    SUNSET_API_PORT: '0',
    SUNSET_METRICS_LISTEN: 'off',
    SUNSET_RECONCILE_INTERVAL_MS: '0',
    LOG_LEVEL: 'info',
    ...env,
  });
  running.push(service);
  return service;
}

async function stop(service: ServiceProcess): Promise<void> {
  service.child.kill('SIGTERM');
  await service.exited();
}

/** Waits for a log line, failing at once with the output when the process exits first. */
async function waitForLine(service: ServiceProcess, what: string, pattern: RegExp): Promise<void> {
  await waitFor(
    what,
    () => {
      if (service.child.exitCode !== null) throw new Error(`exited before ${what}:\n${service.output()}`);
      return pattern.test(service.output());
    },
    30_000,
    50,
  );
}

describe('a Redis without persistence', () => {
  it('stops the worker and the API in production with exit code 69, saying why', async () => {
    for (const entry of [WORKER_ENTRY, API_ENTRY]) {
      const service = start(entry, volatile.url, { SUNSET_ENV: 'production' });
      expect((await service.exited()).code).toBe(69);
      expect(service.output()).toContain(
        'refusing to run: Redis keeps nothing on disk (appendonly no, no RDB save points): a Redis restart loses every queued job.',
      );
      expect(service.output()).toContain('appendonly yes');
      expect(service.output()).not.toMatch(/"worker started"|Server listening/);
    }
  });

  it('lets the API listen while Redis is away, and stops it when a Redis that keeps nothing comes', async () => {
    const late = await startRedisServer();
    await late.stop();
    try {
      const api = start(API_ENTRY, late.url, { SUNSET_ENV: 'production' });
      await waitForLine(api, 'the API to listen with Redis away', /Server listening/);
      expect(api.output()).toContain('Redis is not answering yet');
      await late.start();
      expect((await api.exited()).code).toBe(69);
      expect(api.output()).toContain('refusing to run: Redis keeps nothing on disk');
    } finally {
      await late.cleanup();
    }
  });

  it('starts both in production on a Redis with an append-only file', async () => {
    const worker = start(WORKER_ENTRY, persistent.url, { SUNSET_ENV: 'production' });
    const api = start(API_ENTRY, persistent.url, { SUNSET_ENV: 'production' });
    await waitForLine(worker, 'the worker to start', /"worker started"/);
    await waitForLine(api, 'the API to check Redis', /"persistence":"aof".*"Redis checked"/);
    expect(worker.output()).toMatch(/"persistence":"aof".*"Redis checked"/);
    expect(worker.output() + api.output()).not.toContain('WARNING');
    await stop(worker);
    await stop(api);
  });

  it('starts both in production without persistence when the operator turns the check off, with a warning', async () => {
    const worker = start(WORKER_ENTRY, volatile.url, {
      SUNSET_ENV: 'production',
      SUNSET_REDIS_PERSISTENCE_CHECK: 'off',
    });
    await waitForLine(worker, 'the worker to start', /"worker started"/);
    expect(worker.output()).toContain(
      'WARNING (SUNSET_REDIS_PERSISTENCE_CHECK=off): Redis keeps nothing on disk',
    );
    await stop(worker);
  });

  it('warns in development and starts both', async () => {
    const worker = start(WORKER_ENTRY, volatile.url, { SUNSET_ENV: 'development' });
    const api = start(API_ENTRY, volatile.url, { SUNSET_ENV: 'development' });
    await waitForLine(worker, 'the worker to start', /"worker started"/);
    await waitForLine(api, 'the API to check Redis', /"Redis checked"/);
    for (const service of [worker, api]) {
      expect(service.output()).toContain('WARNING: Redis keeps nothing on disk');
      expect(service.output()).toContain('"persistence":"none"');
    }
    await stop(worker);
    await stop(api);
  });
});

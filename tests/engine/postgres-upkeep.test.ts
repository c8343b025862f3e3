// A PostgreSQL that never vacuums the deliveries table slows down as status changes leave dead
// rows behind: the worker says so at start, naming what is off and how to turn it back on.
import { openTestStore, postgresUnavailable, TEST_POSTGRES_URL, type TestStore } from '@sunset/store/testing';
import { startRedisServer, testPrefix, type PrivateRedis } from '@sunset/queue/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, STATE_KEY_HEX, waitFor, WORKER_ENTRY } from '../support/exit-harness.ts';

const unavailable = await postgresUnavailable();

describe.skipIf(unavailable !== undefined)('the worker on a PostgreSQL without autovacuum', () => {
  let t: TestStore;
  let redis: PrivateRedis;
  beforeAll(async () => {
    t = await openTestStore('postgres');
    redis = await startRedisServer(['--appendonly', 'yes']);
  });
  afterAll(async () => {
    await redis?.cleanup();
    await t?.cleanup();
  });

  it('warns at start that the deliveries table is not vacuumed, and how to fix it', async () => {
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`alter table "${t.schema}".deliveries set (autovacuum_enabled = false)`);
    } finally {
      await admin.end();
    }
    const worker = startService(WORKER_ENTRY, {
      DATABASE_URL: TEST_POSTGRES_URL,
      DATABASE_SCHEMA: t.schema ?? '',
      REDIS_URL: redis.url,
      SUNSET_QUEUE_PREFIX: testPrefix(),
      SUNSET_STATE_KEY: STATE_KEY_HEX,
      SUNSET_METRICS_LISTEN: 'off',
      SUNSET_RECONCILE_INTERVAL_MS: '0',
      LOG_LEVEL: 'info',
    });
    try {
      await waitFor(
        'the worker to warn about autovacuum',
        () => {
          if (worker.child.exitCode !== null) throw new Error(`worker exited:\n${worker.output()}`);
          return /autovacuum is off[^"]*for the deliveries table/.test(worker.output());
        },
        30_000,
        50,
      );
      expect(worker.output()).toContain('ALTER TABLE deliveries RESET (autovacuum_enabled)');
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited();
    }
  });
});

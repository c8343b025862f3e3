// The store tells the services when PostgreSQL will not reclaim the dead rows that delivery status
// changes leave: autovacuum off for the server or for the deliveries table.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, postgresUnavailable, TEST_POSTGRES_URL, type TestStore } from './testing/index.ts';

const unavailable = await postgresUnavailable();

describe.skipIf(unavailable !== undefined)('PostgreSQL upkeep warnings', () => {
  let t: TestStore;
  let admin: pg.Client;
  let serverOff: boolean;
  beforeAll(async () => {
    t = await openTestStore('postgres');
    admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    const r = await admin.query<{ autovacuum: string }>('show autovacuum');
    serverOff = r.rows[0]?.autovacuum === 'off';
  });
  afterAll(async () => {
    await admin?.end();
    await t?.cleanup();
  });
  const deliveries = () => `"${t.schema ?? 'public'}".deliveries`;

  it('names the deliveries table when its autovacuum is off, and stops when it is back on', async () => {
    await admin.query(`alter table ${deliveries()} set (autovacuum_enabled = false)`);
    const off = await t.store.upkeepWarnings();
    expect(off).toHaveLength(1);
    expect(off[0]).toContain('for the deliveries table (autovacuum_enabled = false)');
    expect(off[0]).toContain('vacuumdb --analyze');

    await admin.query(`alter table ${deliveries()} reset (autovacuum_enabled)`);
    const back = await t.store.upkeepWarnings();
    expect(back.join('\n')).not.toContain('deliveries table');
    // The server's own setting is this machine's: the warning follows it either way.
    expect(back.length).toBe(serverOff ? 1 : 0);
    if (serverOff) expect(back[0]).toContain('for the whole server (autovacuum = off)');
  });

  it('has nothing to say about SQLite', async () => {
    const lite = await openTestStore('sqlite');
    try {
      expect(await lite.store.upkeepWarnings()).toEqual([]);
    } finally {
      await lite.cleanup();
    }
  });
});

// PostgreSQL connections kept ready: a pool asked to keep N opens them at once and does not close
// them when idle, so a crisis after a quiet hour does not wait for a new server process.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from './errors.ts';
import { openStore } from './open.ts';
import { openTestStore, postgresUnavailable, TEST_POSTGRES_URL, type TestStore } from './testing/index.ts';
import type { Store } from './types.ts';

const unavailable = await postgresUnavailable();
const IDLE_MS = 50;

describe.skipIf(unavailable !== undefined)('PostgreSQL connections kept', () => {
  let t: TestStore;
  let watcher: pg.Client;
  const opened: Store[] = [];
  beforeAll(async () => {
    t = await openTestStore('postgres');
    watcher = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await watcher.connect();
  });
  afterAll(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    await watcher?.end();
    await t?.cleanup();
  });

  const connections = async (name: string): Promise<number> => {
    const r = await watcher.query<{ n: string }>(
      'select count(*) as n from pg_stat_activity where application_name = $1',
      [name],
    );
    return Number(r.rows[0]?.n);
  };
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`still not: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const open = async (name: string, keepConnections?: number) => {
    const store = await openStore({
      url: TEST_POSTGRES_URL,
      schema: t.schema!,
      migrate: false,
      poolSize: 4,
      idleTimeoutMs: IDLE_MS,
      applicationName: name,
      ...(keepConnections !== undefined ? { keepConnections } : {}),
    });
    opened.push(store);
    return store;
  };
  /** Four transactions held open together: the pool needs all four of its connections. */
  const useAllFour = async (store: Store, name: string): Promise<number> => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let inside = 0;
    const all = Array.from({ length: 4 }, () =>
      store.transaction(async (tx) => {
        await tx.organisations.list();
        inside += 1;
        await gate;
      }),
    );
    await until('four transactions open', async () => inside === 4);
    const peak = await connections(name);
    release();
    await Promise.all(all);
    return peak;
  };

  it('opens the connections to keep at once and keeps them through idle time', async () => {
    const name = `sunset-keep-${randomUUID().slice(0, 8)}`;
    const store = await open(name, 3);
    expect(await connections(name)).toBe(3);
    expect(await useAllFour(store, name)).toBe(4);
    // The fourth, above those kept, is closed after the idle time; the three stay.
    await until('the connection above those kept closed', async () => (await connections(name)) === 3);
    await new Promise((r) => setTimeout(r, IDLE_MS * 8));
    expect(await connections(name)).toBe(3);
  });

  it('by default closes every idle connection', async () => {
    const name = `sunset-nokeep-${randomUUID().slice(0, 8)}`;
    const store = await open(name);
    expect(await useAllFour(store, name)).toBe(4);
    await until('every idle connection closed', async () => (await connections(name)) === 0);
  });

  it('refuses to keep more connections than the pool holds', async () => {
    await expect(open(`sunset-bad-${randomUUID().slice(0, 8)}`, 5)).rejects.toThrow(StoreError);
    await expect(open(`sunset-bad-${randomUUID().slice(0, 8)}`, 5)).rejects.toThrow(
      /from 0 to the pool size \(4\)/,
    );
  });
});

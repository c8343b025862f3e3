// Statements that name their deliveries by id find them by primary key, whatever the planner's
// statistics say. Right after a plan apply or a burst of crises the statistics still count the
// deliveries as they were when last analysed; here, taken before 3,000 were queued, they count
// none queued, which once sent claims and cancels through the status indexes, reading every
// queued delivery to keep the few asked for. And on a table never analysed, a claim of one
// delivery once scanned the whole table (the planner took its JSON input for 100 rows).
// Watched through PostgreSQL's own counters.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, PreparingClient } from './open.ts';
import { openTestStore, rawSql, testDialects, TEST_POSTGRES_URL, type TestStore } from './testing/index.ts';
import { KEY_COLUMNS } from './migrations.ts';
import type { NewDelivery } from './types.ts';

const postgres = (await testDialects()).find((d) => d.dialect === 'postgres')!;

const QUEUED = 3000;

function delivery(n: number, network: 'mastodon' | 'x' = 'mastodon'): NewDelivery {
  const id = `org-q.post.p${n}.${network}`;
  return {
    id,
    organisationId: 'org-q',
    actionKey: `post.p${n}.${network}`,
    postId: `p${n}`,
    kind: 'post',
    source: 'plan',
    network,
    planVersion: 1,
    dueAt: new Date(Date.UTC(2030, 0, 20, 8, 0, n % 60)),
    priority: 10,
    contentHash: 'h1',
    parts: [{ part: 1, text: `Post ${n}`, images: [], language: 'fr' }],
    jobId: `${id}.g1`,
  };
}

interface Counters {
  /** Per index of the deliveries table: scans, and entries read through it. */
  indexes: Map<string, { scans: number; read: number }>;
  /** Whole-table scans of the deliveries and parts tables. */
  tableScans: Record<string, number>;
}

/** PostgreSQL's counters for the store's tables, as its statistics have them. */
async function counters(t: TestStore): Promise<Counters> {
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  try {
    const indexes = await client.query<{ name: string; scans: string; read: string }>(
      `select indexrelname as name, idx_scan as scans, idx_tup_read as read from pg_stat_user_indexes
        where schemaname = $1 and relname = 'deliveries'`,
      [t.schema],
    );
    const tables = await client.query<{ name: string; n: string }>(
      `select relname as name, seq_scan as n from pg_stat_user_tables
        where schemaname = $1 and relname in ('deliveries', 'delivery_parts')`,
      [t.schema],
    );
    return {
      indexes: new Map(indexes.rows.map((r) => [r.name, { scans: Number(r.scans), read: Number(r.read) }])),
      tableScans: Object.fromEntries(tables.rows.map((r) => [r.name, Number(r.n)])),
    };
  } finally {
    await client.end();
  }
}

const pkeyOf = (c: Counters) => [...c.indexes.keys()].find((name) => name.endsWith('pkey'))!;

/**
 * The counters once they show `scans` more primary-key scans than `before`: a connection's
 * counters reach the statistics when it ends, a moment after the store closed it.
 */
async function countersAfter(t: TestStore, before: Counters, scans: number): Promise<Counters> {
  const pkey = pkeyOf(before);
  let after = await counters(t);
  for (let i = 0; i < 100 && after.indexes.get(pkey)!.scans - before.indexes.get(pkey)!.scans < scans; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await counters(t);
  }
  return after;
}

describe.skipIf(postgres.skip !== undefined)(
  `on PostgreSQL, with statistics older than the queued deliveries${postgres.skip ? ` (skipped: ${postgres.skip})` : ''}`,
  () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await openTestStore('postgres');
      await t.store.organisations.ensure({ id: 'org-q', name: 'Organisation Q' });
      // 200 deliveries already done when the statistics are taken; then 3,000 queued.
      await t.store.deliveries.insertMany(Array.from({ length: 200 }, (_, i) => delivery(QUEUED + i)));
      await rawSql(t, `update deliveries set status = 'published'; analyze deliveries`);
      await t.store.deliveries.insertMany(Array.from({ length: QUEUED }, (_, i) => delivery(i)));
    }, 60_000);
    afterAll(async () => {
      await t?.cleanup();
    });

    it('claims and cancels deliveries by primary key, without reading the queued ones', async () => {
      const before = await counters(t);
      const pkey = pkeyOf(before);
      expect(pkey).toBeDefined();
      expect(before.indexes.has('deliveries_status_due')).toBe(true);

      // A store of its own, closed at the end, so that its connections' counters are counted.
      const store = await openStore({ url: t.url, schema: t.schema!, migrate: false });
      const [a, b, c] = [delivery(1), delivery(2), delivery(3)];
      // Two at once go in one statement (claimMany), one alone in another.
      const claimed = await Promise.all([
        store.deliveries.claim(a.id, a.jobId),
        store.deliveries.claim(b.id, b.jobId),
      ]);
      const alone = await store.deliveries.claim(c.id, c.jobId);
      const toCancel = Array.from({ length: 20 }, (_, i) => delivery(10 + i).id);
      const cancelled = await store.deliveries.cancelMany([...toCancel, a.id]);
      await store.close();

      expect(claimed.map((d) => d?.status)).toEqual(['sending', 'sending']);
      expect(alone?.status).toBe('sending');
      expect(cancelled).toEqual(toCancel);

      const after = await countersAfter(t, before, 3);
      expect(after.indexes.get(pkey)!.scans - before.indexes.get(pkey)!.scans).toBeGreaterThanOrEqual(3);
      for (const [name, index] of after.indexes) {
        if (name === pkey) continue;
        // 3,000 queued deliveries read at each statement through a status index otherwise.
        expect(index.read - before.indexes.get(name)!.read, name).toBeLessThan(100);
      }
    });

    it('claims and finishes by key, without a table scan, when each is a prepared statement run many times', async () => {
      const before = await counters(t);
      const pkey = pkeyOf(before);
      // One connection, twelve runs of each prepared statement (PostgreSQL would try a generic plan
      // after five).
      const store = await openStore({ url: t.url, schema: t.schema!, migrate: false, poolSize: 1 });
      // Half on X, whose claim also marks the part it is about to send.
      const ds = Array.from({ length: 12 }, (_, i) => delivery(100 + i, i % 2 ? 'x' : 'mastodon'));
      await t.store.deliveries.insertMany(ds.filter((d) => d.network === 'x'));
      for (const d of ds) {
        const claimed = await store.deliveries.claim(d.id, d.jobId);
        expect(claimed?.status).toBe('sending');
        const done = await store.finishDelivery(
          claimed!,
          'published',
          { landed: { part: 1, remoteId: `r${d.id}`, url: `https://social.example/${d.postId}` } },
          (x) => ({
            organisationId: x.organisationId,
            actor: 'system',
            action: 'delivery.published',
            outcome: 'ok',
          }),
        );
        expect(done.parts[0]?.remoteId).toBe(`r${d.id}`);
      }
      await store.close();

      const after = await countersAfter(t, before, 2 * ds.length);
      expect(after.indexes.get(pkey)!.scans - before.indexes.get(pkey)!.scans).toBeGreaterThanOrEqual(
        ds.length,
      );
      for (const [name, index] of after.indexes) {
        if (name === pkey) continue;
        expect(index.read - before.indexes.get(name)!.read, name).toBeLessThan(100);
      }
      // The finish once updated the landed part through a scan of every part (3,200 here).
      expect(after.tableScans).toEqual(before.tableScans);
    });
  },
);

describe.skipIf(postgres.skip !== undefined)(
  `on PostgreSQL, with a table never analysed${postgres.skip ? ` (skipped: ${postgres.skip})` : ''}`,
  () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await openTestStore('postgres');
      await t.store.organisations.ensure({ id: 'org-q', name: 'Organisation Q' });
      await t.store.deliveries.insertMany(Array.from({ length: 2000 }, (_, i) => delivery(i)));
    }, 60_000);
    afterAll(async () => {
      await t?.cleanup();
    });

    it('claims, marks and finishes one delivery by key, without scanning a table', async () => {
      const before = await counters(t);
      const pkey = pkeyOf(before);
      expect(Object.keys(before.tableScans).sort()).toEqual(['deliveries', 'delivery_parts']);
      const store = await openStore({ url: t.url, schema: t.schema!, migrate: false });
      const one = delivery(7);
      const claimed = await store.deliveries.claim(one.id, one.jobId);
      expect(claimed?.status).toBe('sending');
      await store.deliveries.partOutcomeUnknown(one.id, 1, true);
      const done = await store.finishDelivery(
        claimed!,
        'published',
        { landed: { part: 1, remoteId: 'r7', url: 'https://social.example/@ville/7' } },
        (d) => ({
          organisationId: d.organisationId,
          actor: 'system',
          action: 'delivery.published',
          deliveryId: d.id,
          network: d.network,
          outcome: 'ok',
        }),
      );
      await store.close();
      expect(done.status).toBe('published');
      expect(done.parts[0]).toMatchObject({ remoteId: 'r7', outcomeUnknown: false });
      const after = await countersAfter(t, before, 2);
      expect(after.indexes.get(pkey)!.scans - before.indexes.get(pkey)!.scans).toBeGreaterThanOrEqual(2);
      expect(after.tableScans).toEqual(before.tableScans);
    });
  },
);

describe.skipIf(postgres.skip !== undefined)(
  `prepared statements on PostgreSQL${postgres.skip ? ` (skipped: ${postgres.skip})` : ''}`,
  () => {
    it('prepares a marked statement once per connection and sends the others unnamed', async () => {
      const pool = new pg.Pool({ Client: PreparingClient, connectionString: TEST_POSTGRES_URL, max: 1 });
      try {
        const marked = '/* sunset:prepare:test-sum */ select $1::int + $2::int as n';
        const sums = [];
        for (const [a, b] of [
          [1, 2],
          [40, 2],
          [-5, 5],
        ] as const) {
          sums.push((await pool.query<{ n: number }>(marked, [a, b])).rows[0]?.n);
        }
        expect(sums).toEqual([3, 42, 0]);
        await pool.query('select $1::int as unmarked', [7]);
        const { rows } = await pool.query<{ name: string; statement: string }>(
          'select name, statement from pg_prepared_statements order by name',
        );
        expect(rows).toEqual([{ name: expect.stringMatching(/^sunset_test_sum_\d+$/), statement: marked }]);
      } finally {
        await pool.end();
      }
    });
  },
);

describe.skipIf(postgres.skip !== undefined)(
  `key columns${postgres.skip ? ` (skipped: ${postgres.skip})` : ''}`,
  () => {
    it('compares ids, statuses and times byte by byte (collation "C"), whatever the database collation', async () => {
      const t = await openTestStore('postgres');
      const client = new pg.Client({ connectionString: t.url });
      await client.connect();
      try {
        const columns = await client.query<{
          table_name: string;
          column_name: string;
          collation: string | null;
        }>(
          `select table_name, column_name, collation_name as collation from information_schema.columns
            where table_schema = $1 and data_type = 'text'`,
          [t.schema],
        );
        const collation = (table: string, column: string) =>
          columns.rows.find((r) => r.table_name === table && r.column_name === column)?.collation;
        for (const [table, keys] of Object.entries(KEY_COLUMNS)) {
          for (const key of keys) expect(collation(table, key), `${table}.${key}`).toBe('C');
        }
        // Free text keeps the database's collation.
        expect(collation('delivery_parts', 'text')).toBeNull();
        // Every text column of every index is one of them.
        const indexed = await client.query<{ table_name: string; column_name: string }>(
          `select t.relname as table_name, a.attname as column_name
             from pg_index i join pg_class t on t.oid = i.indrelid
             join pg_namespace n on n.oid = t.relnamespace
             join pg_attribute a on a.attrelid = t.oid and a.attnum = any(i.indkey)
            where n.nspname = $1 and a.atttypid = 'text'::regtype`,
          [t.schema],
        );
        expect(indexed.rows.length).toBeGreaterThan(20);
        for (const r of indexed.rows) {
          expect(collation(r.table_name, r.column_name), `${r.table_name}.${r.column_name}`).toBe('C');
        }
        // Ordered as SQLite and JavaScript order them: "_" (0x5f) after "Z" (0x5a), "a" after both.
        await t.store.organisations.ensure({ id: 'org-sort', name: 'Tri' });
        for (const id of ['b', 'B', '_a', 'Z', 'a-1', 'a.1']) {
          await t.store.kv.set('org-sort', id, 'v');
        }
        const keys = await client.query<{ key: string }>(
          `select key from ${t.schema}.kv where organisation_id = 'org-sort' order by key`,
        );
        const ids = ['b', 'B', '_a', 'Z', 'a-1', 'a.1'];
        expect(keys.rows.map((r) => r.key)).toEqual([...ids].sort());
      } finally {
        await client.end();
        await t.cleanup();
      }
    });

    it('gives a database made before 0003 the same key columns, its rows kept', async () => {
      // A database as the initial migration made it before its key columns were "C": every key
      // column back to the database's collation, and 0003 not yet run.
      const t = await openTestStore('postgres');
      const client = new pg.Client({ connectionString: t.url });
      await client.connect();
      try {
        await t.store.organisations.ensure({ id: 'org-old', name: 'Avant' });
        await t.store.kv.set('org-old', 'clé', 'valeur');
        for (const [table, keys] of Object.entries(KEY_COLUMNS)) {
          const alters = keys.map((k) => `alter column ${k} type text collate "default"`).join(', ');
          await client.query(`alter table ${t.schema}.${table} ${alters}`);
        }
        await client.query(`delete from ${t.schema}.kysely_migration where name = '0003-keys-in-byte-order'`);
        const notC = async () =>
          Number(
            (
              await client.query<{ n: string }>(
                `select count(*) as n from information_schema.columns
                  where table_schema = $1 and data_type = 'text' and collation_name is distinct from 'C'
                    and (table_name, column_name) in (${Object.entries(KEY_COLUMNS)
                      .flatMap(([table, keys]) => keys.map((k) => `('${table}', '${k}')`))
                      .join(', ')})`,
                [t.schema],
              )
            ).rows[0]!.n,
          );
        expect(await notC()).toBe(Object.values(KEY_COLUMNS).flat().length);
        // Opening the store runs 0003 on it.
        const reopened = await openStore({ url: t.url, schema: t.schema! });
        try {
          expect(await notC()).toBe(0);
          expect(await reopened.kv.get('org-old', 'clé')).toBe('valeur');
          const ran = await client.query<{ name: string }>(`select name from ${t.schema}.kysely_migration`);
          expect(ran.rows.map((r) => r.name)).toContain('0003-keys-in-byte-order');
        } finally {
          await reopened.close();
        }
      } finally {
        await client.end();
        await t.cleanup();
      }
    });
  },
);

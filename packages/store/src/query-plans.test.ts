// Statements that name their deliveries by id find them by primary key, whatever the planner's
// statistics say. Right after a plan apply or a burst of crises the statistics still count the
// deliveries as they were when last analysed; here, taken before 3,000 were queued, they count
// none queued, which once sent claims and cancels through the status indexes, reading every
// queued delivery to keep the few asked for. And on a table never analysed, a claim of one
// delivery once scanned the whole table (the planner took its JSON input for 100 rows).
// Watched through PostgreSQL's own counters.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, PreparingClient } from './open.ts';
import { openTestStore, testDialects, TEST_POSTGRES_URL } from './testing/index.ts';
import { KEY_COLUMNS } from './migrations.ts';
import type { NewDelivery, Store } from './types.ts';

/** A lease that runs out at once, as a crashed attempt's: the next claim may take the delivery. */
const LEASE = { owner: 'test', ttlMs: 0 };

const postgres = (await testDialects()).find((d) => d.dialect === 'postgres')!;

const QUEUED = 3000;
/** The second test's deliveries: half on X, whose claim also marks the part it is about to send. */
const SECOND_TEST = Array.from({ length: 12 }, (_, i) => delivery(100 + i, i % 2 ? 'x' : 'mastodon'));

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

/** A schema of a suite's own, made by the store's migrations. */
interface Schema {
  url: string;
  schema: string;
}

async function query<R extends object>(statement: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<R>(statement, params)).rows;
  } finally {
    await client.end();
  }
}

let opened = 0;

/**
 * Runs `work` on a store of its own and returns once PostgreSQL's counters hold all it did. A
 * backend reports its counters when it ends or, while it lives, once idle, up to 10 s later: a
 * store left open (such as a test store, with its migrations' index builds) brings its scans into
 * a later test's window. So the store is closed and its backends, named for it, waited for; a
 * backend writes its counters just after it leaves pg_stat_activity, hence the short pause.
 */
async function withStore<T>(
  s: Schema,
  options: { migrate?: boolean; poolSize?: number },
  work: (store: Store) => Promise<T>,
): Promise<T> {
  const name = `sunset-query-plans-${process.pid}-${++opened}`;
  const store = await openStore({
    url: `${s.url}${s.url.includes('?') ? '&' : '?'}application_name=${name}`,
    schema: s.schema,
    migrate: options.migrate ?? false,
    ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}),
  });
  try {
    return await work(store);
  } finally {
    await store.close();
    const left = async () =>
      Number(
        (
          await query<{ n: string }>(
            'select count(*) as n from pg_stat_activity where application_name = $1',
            [name],
          )
        )[0]?.n,
      );
    for (let i = 0; i < 200 && (await left()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await left(), `backends of ${name} still connected 10 s after the store closed`).toBe(0);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function newSchema(): Promise<Schema> {
  const s = { url: TEST_POSTGRES_URL, schema: `t_${randomBytes(6).toString('hex')}` };
  await withStore(s, { migrate: true }, async () => undefined);
  return s;
}

const dropSchema = (s: Schema | undefined) =>
  s ? query(`drop schema if exists ${s.schema} cascade`) : Promise.resolve([]);

/** PostgreSQL's counters for the store's tables, as its statistics have them. */
async function counters(s: Schema): Promise<Counters> {
  const indexes = await query<{ name: string; scans: string; read: string }>(
    `select indexrelname as name, idx_scan as scans, idx_tup_read as read from pg_stat_user_indexes
      where schemaname = $1 and relname = 'deliveries'`,
    [s.schema],
  );
  const tables = await query<{ name: string; n: string }>(
    `select relname as name, seq_scan as n from pg_stat_user_tables
      where schemaname = $1 and relname in ('deliveries', 'delivery_parts')`,
    [s.schema],
  );
  return {
    indexes: new Map(indexes.map((r) => [r.name, { scans: Number(r.scans), read: Number(r.read) }])),
    tableScans: Object.fromEntries(tables.map((r) => [r.name, Number(r.n)])),
  };
}

const pkeyOf = (c: Counters) => [...c.indexes.keys()].find((name) => name.endsWith('pkey'))!;

describe.skipIf(postgres.skip !== undefined)(
  `on PostgreSQL, with statistics older than the queued deliveries${postgres.skip ? ` (skipped: ${postgres.skip})` : ''}`,
  () => {
    let t: Schema;
    beforeAll(async () => {
      t = await newSchema();
      // 200 deliveries already done when the statistics are taken; then 3,000 queued, and the
      // second test's deliveries on X.
      await withStore(t, {}, async (store) => {
        await store.organisations.ensure({ id: 'org-q', name: 'Organisation Q' });
        await store.deliveries.insertMany(Array.from({ length: 200 }, (_, i) => delivery(QUEUED + i)));
      });
      await query(`update ${t.schema}.deliveries set status = 'published'; analyze ${t.schema}.deliveries`);
      await withStore(t, {}, async (store) => {
        await store.deliveries.insertMany(Array.from({ length: QUEUED }, (_, i) => delivery(i)));
        await store.deliveries.insertMany(SECOND_TEST.filter((d) => d.network === 'x'));
      });
    }, 60_000);
    afterAll(async () => {
      await dropSchema(t);
    });

    it('claims and cancels deliveries by primary key, without reading the queued ones', async () => {
      const before = await counters(t);
      const pkey = pkeyOf(before);
      expect(pkey).toBeDefined();
      expect(before.indexes.has('deliveries_status_due')).toBe(true);

      const [a, b, c] = [delivery(1), delivery(2), delivery(3)];
      const toCancel = Array.from({ length: 20 }, (_, i) => delivery(10 + i).id);
      const { claimed, alone, cancelled } = await withStore(t, {}, async (store) => ({
        // Two at once go in one statement (claimMany), one alone in another.
        claimed: await Promise.all([
          store.deliveries.claim(a.id, a.jobId, LEASE),
          store.deliveries.claim(b.id, b.jobId, LEASE),
        ]),
        alone: await store.deliveries.claim(c.id, c.jobId, LEASE),
        cancelled: await store.deliveries.cancelMany([...toCancel, a.id]),
      }));

      expect(claimed.map((d) => d?.status)).toEqual(['sending', 'sending']);
      expect(alone?.status).toBe('sending');
      expect(cancelled).toEqual(toCancel);

      const after = await counters(t);
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
      await withStore(t, { poolSize: 1 }, async (store) => {
        for (const d of SECOND_TEST) {
          const claimed = await store.deliveries.claim(d.id, d.jobId, LEASE);
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
      });

      const after = await counters(t);
      expect(after.indexes.get(pkey)!.scans - before.indexes.get(pkey)!.scans).toBeGreaterThanOrEqual(
        SECOND_TEST.length,
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
    let t: Schema;
    beforeAll(async () => {
      t = await newSchema();
      await withStore(t, {}, async (store) => {
        await store.organisations.ensure({ id: 'org-q', name: 'Organisation Q' });
        await store.deliveries.insertMany(Array.from({ length: 2000 }, (_, i) => delivery(i)));
      });
    }, 60_000);
    afterAll(async () => {
      await dropSchema(t);
    });

    it('claims, marks and finishes one delivery by key, without scanning a table', async () => {
      const before = await counters(t);
      const pkey = pkeyOf(before);
      expect(Object.keys(before.tableScans).sort()).toEqual(['deliveries', 'delivery_parts']);
      const one = delivery(7);
      const done = await withStore(t, {}, async (store) => {
        const claimed = await store.deliveries.claim(one.id, one.jobId, LEASE);
        expect(claimed?.status).toBe('sending');
        await store.deliveries.partOutcomeUnknown(one.id, 1, true);
        return store.finishDelivery(
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
      });
      expect(done.status).toBe('published');
      expect(done.parts[0]).toMatchObject({ remoteId: 'r7', outcomeUnknown: false });
      const after = await counters(t);
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
      // column back to the database's collation, and neither 0003 nor the migrations after it run.
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
        await client.query(`alter table ${t.schema}.api_tokens drop column person`);
        await client.query(
          `alter table ${t.schema}.deliveries drop column lease_owner, drop column lease_epoch, drop column lease_until`,
        );
        await client.query(
          `alter table ${t.schema}.delivery_parts drop column unknown_text, drop column unknown_since`,
        );
        await client.query(
          `drop table ${t.schema}.cap_feed_alerts, ${t.schema}.cap_feeds, ${t.schema}.x_holds, ${t.schema}.x_usage, ${t.schema}.identity_checks, ${t.schema}.watch_tasks, ${t.schema}.follower_counts`,
        );
        await client.query(`delete from ${t.schema}.kysely_migration where name >= '0003'`);
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
          expect(ran.rows.map((r) => r.name)).toContain('0004-token-persons');
          expect(ran.rows.map((r) => r.name)).toContain('0005-delivery-leases');
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

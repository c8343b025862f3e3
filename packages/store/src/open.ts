/**
 * Opens the store: SQLite (a file, WAL) by default, PostgreSQL for a postgres:// URL. Runs the
 * migrations, then hands out repositories and transactions over the same schema.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Dialect as KyselyDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { batchOneAtATime } from '@sunset/core';
import { readAuditHead } from './audit-head.ts';
import { StoreError, unavailableAsStoreError } from './errors.ts';
import { migrationProvider } from './migrations.ts';
import { chainAudit, createRepositories, type KnownHead, type PendingAudit } from './repositories/index.ts';
import { finishInOneStatement, type FinishRequest } from './repositories/postgres/finish.ts';
import { insertPostsInOneStatement } from './repositories/postgres/insert-posts.ts';
import { PREPARED_MARK } from './repositories/postgres/sql.ts';
import type { Database } from './schema.ts';
import type { Delivery, Dialect, OpenStoreOptions, Repositories, Store } from './types.ts';
import { verifyAuditChain } from './verify.ts';

export { StoreError } from './errors.ts';

/** The URL as it may be shown: without its password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export function dialectOf(url: string): Dialect {
  return /^postgres(ql)?:\/\//i.test(url) ? 'postgres' : 'sqlite';
}

function sqlitePath(url: string): string {
  return url.replace(/^sqlite:(\/\/)?/i, '');
}

/** Finishes in one batch statement at most (see finishInOneStatement's row limit). */
const FINISH_BATCH_MAX = 100;

/** The chain head as last seen by this process, per database (see chainAudit). */
const knownHeads = new Map<string, KnownHead>();

/**
 * PostgreSQL statements marked with `prepared(…)` (repositories/postgres/sql.ts) go as named prepared
 * statements: each connection parses one the first time and reuses it after (planned for its
 * values each time: the pool's connections run with plan_cache_mode=force_custom_plan). Every
 * other statement goes unnamed, as pg sends it by default. A name stands for one text in this
 * process, as pg requires.
 */
export class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [text, values] = args;
    if (typeof text === 'string' && text.startsWith(`/* ${PREPARED_MARK}`)) {
      return (super.query as (...a: unknown[]) => never)(
        { name: preparedName(text), text, values },
        ...args.slice(2),
      );
    }
    return (super.query as (...a: unknown[]) => never)(...args);
  }
}

const preparedNames = new Map<string, string>();

/** The prepared statement's name for this text: one per distinct text, for the life of the process. */
export function preparedName(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) {
    const label = text.slice(PREPARED_MARK.length + 3, text.indexOf(' */'));
    name = `sunset_${label.replaceAll('-', '_')}_${preparedNames.size + 1}`;
    preparedNames.set(text, name);
  }
  return name;
}

/**
 * A service's store at start (the worker's, the API's): opened, or the process ends after logging
 * why and running `beforeExit` — with 69 (EX_UNAVAILABLE) when the database cannot be reached,
 * opened or migrated (a StoreError), 70 (EX_SOFTWARE) on anything else.
 */
export async function openStoreOrExit(
  options: OpenStoreOptions,
  log: { fatal(fields: object, message: string): void },
  beforeExit?: () => void,
): Promise<Store> {
  try {
    return await openStore(options);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot start: store');
    beforeExit?.();
    process.exit(err instanceof StoreError ? 69 : 70);
  }
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const dialect = dialectOf(options.url);
  let kyselyDialect: KyselyDialect;
  let pool: pg.Pool | undefined;
  if (dialect === 'postgres') {
    const schema = options.schema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new StoreError(`bad schema name "${schema}": use lower-case letters, digits and _`);
    }
    const max = options.poolSize ?? 10;
    const keep = options.keepConnections ?? 0;
    if (!Number.isInteger(keep) || keep < 0 || keep > max) {
      throw new StoreError(
        `keepConnections must be a whole number from 0 to the pool size (${max}), not ${keep}`,
      );
    }
    pool = new pg.Pool({
      Client: PreparingClient,
      connectionString: options.url,
      max,
      min: keep,
      idleTimeoutMillis: options.idleTimeoutMs ?? 10_000,
      connectionTimeoutMillis: 10_000,
      ...(options.applicationName !== undefined ? { application_name: options.applicationName } : {}),
      // Prepared statements (PreparingClient) are planned for their values every time: PostgreSQL
      // would otherwise keep a generic plan after five runs, made from the statistics of that
      // moment, until the next ANALYZE: a claim planned while the tables were small would go on
      // scanning them whole once thousands were queued (README, "Measurements"). Parsing once is
      // what is saved.
      options: `${schema !== undefined ? `-c search_path=${schema} ` : ''}-c plan_cache_mode=force_custom_plan`,
    });
    // An idle client that loses its server must not crash the process.
    pool.on('error', () => undefined);
    if (schema !== undefined) {
      const client = await pool.connect().catch((err: unknown) => {
        throw new StoreError(`cannot connect to PostgreSQL at ${describeUrl(options.url)}: ${String(err)}`, {
          cause: err,
        });
      });
      try {
        await client.query(`create schema if not exists ${schema}`);
      } finally {
        client.release();
      }
    }
    kyselyDialect = new PostgresDialect({ pool });
  } else {
    const file = sqlitePath(options.url);
    let database: BetterSqlite3.Database;
    try {
      if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      database = new BetterSqlite3(file, { timeout: 15_000 });
      database.pragma('journal_mode = WAL');
      database.pragma('synchronous = NORMAL');
      database.pragma('foreign_keys = ON');
    } catch (err) {
      throw new StoreError(`cannot open the SQLite database ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    kyselyDialect = new SqliteDialect({ database });
  }

  const db = new Kysely<Database>({ dialect: kyselyDialect });
  try {
    await sql`select 1`.execute(db);
    // The connections to keep are opened now, side by side, not by the first crisis.
    const keep = dialect === 'postgres' ? (options.keepConnections ?? 0) : 0;
    if (keep > 1 && pool) {
      const clients = await Promise.all(Array.from({ length: keep }, () => pool.connect()));
      for (const client of clients) client.release();
    }
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new StoreError(
      `cannot reach the database at ${describeUrl(options.url)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }

  if (options.migrate !== false) {
    const migrator = new Migrator({
      db,
      provider: migrationProvider(dialect),
      // Kysely's own bookkeeping tables go in the same schema, not in public.
      ...(dialect === 'postgres' && options.schema ? { migrationTableSchema: options.schema } : {}),
    });
    let { error, results } = await migrator.migrateToLatest();
    // Kysely's migrator reads the tables of every schema in the database; when another schema is
    // dropped during that read (another deployment's, a test's), PostgreSQL answers that it does
    // not exist. Only our own schema missing is an error; another's gone is read again, a little
    // later each time (about 2.5 s in all), as drops come in bursts.
    for (let retry = 1; retry <= 10 && otherSchemaDropped(error, options.schema); retry++) {
      await new Promise((resolve) => setTimeout(resolve, 50 * retry));
      ({ error, results } = await migrator.migrateToLatest());
    }
    if (error) {
      await db.destroy().catch(() => undefined);
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new StoreError(`database migration ${failed} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  const now = () => new Date();
  const runTransaction = <T>(fn: (tx: Kysely<Database>) => Promise<T>): Promise<T> =>
    db.connection().execute(async (conn) => {
      // SQLite: take the write lock at once, so two writers queue instead of failing to upgrade.
      await sql.raw(dialect === 'sqlite' ? 'begin immediate' : 'begin').execute(conn);
      try {
        const result = await fn(conn);
        await sql.raw('commit').execute(conn);
        return result;
      } catch (err) {
        await sql
          .raw('rollback')
          .execute(conn)
          .catch(() => undefined);
        throw err;
      }
    });

  // One view of the head per database in the process: a worker's crisis-lane store and its
  // ordinary one write the same chain, and each would otherwise find the other's writes a miss.
  const headKey = `${options.url}|${options.schema ?? ''}`;
  const knownHead: KnownHead = knownHeads.get(headKey) ?? {};
  knownHeads.set(headKey, knownHead);
  const repos = createRepositories({
    db,
    dialect,
    atomic: runTransaction,
    now,
    knownHead,
    // Only the pool's repositories batch: a transaction's statements run in turn anyway.
    batch: { claimsAtOnce: options.claimsAtOnce ?? 1 },
  });

  // Group commit, audit chain last. Every audited change appends to one hash chain whose head
  // row is locked from the moment it is read until commit, so the head is read as late as
  // possible: entries appended inside a transaction wait in memory (auditSink) and are chained,
  // inserted and the head moved in a few statements just before the commit. Until then the
  // transaction holds no lock any other one needs, so on PostgreSQL several run at once (LANES
  // connections), and they queue only for those last statements; SQLite has one writer anyway.
  // The transactions asked for while every lane is busy run together in the next free one, each
  // inside a savepoint of its own: a failing one is rolled back alone (its audit entries with
  // it), and every caller hears only after the commit that holds its change. When a lane is
  // free, a transaction runs on its own at once, so a lone crisis never waits for company.
  type Pending = {
    fn: (tx: Repositories) => Promise<unknown>;
    resolve: (v: unknown) => void;
    reject: (e: unknown) => void;
  };
  const waiting: Pending[] = [];
  const LANES = dialect === 'postgres' ? 4 : 1;
  const GROUP_MAX = 100;
  let busyLanes = 0;
  // PostgreSQL takes both savepoint statements in one round trip (simple protocol, no
  // parameters); better-sqlite3 prepares one statement at a time.
  const nextSavepoint =
    dialect === 'postgres'
      ? [sql.raw('release savepoint sunset_group; savepoint sunset_group')]
      : [sql.raw('release savepoint sunset_group'), sql.raw('savepoint sunset_group')];

  const runGroup = async (group: Pending[]): Promise<void> => {
    const audit: PendingAudit[] = [];
    const inTransaction = (tx: Kysely<Database>) =>
      createRepositories({ db: tx, dialect, atomic: (f) => f(tx), now, auditSink: (e) => audit.push(e) });
    if (group.length === 1) {
      const [one] = group as [Pending];
      await runTransaction(async (tx) => {
        const value = await one.fn(inTransaction(tx));
        await chainAudit(tx, dialect, audit, knownHead);
        return value;
      }).then(one.resolve, one.reject);
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await runTransaction(async (tx) => {
        const repositories = inTransaction(tx);
        for (const [i, p] of group.entries()) {
          if (i === 0) await sql.raw('savepoint sunset_group').execute(tx);
          else for (const statement of nextSavepoint) await statement.execute(tx);
          const mark = audit.length;
          try {
            outcomes.push({ ok: true, value: await p.fn(repositories) });
          } catch (error) {
            await sql.raw('rollback to savepoint sunset_group').execute(tx);
            audit.length = mark;
            outcomes.push({ ok: false, error });
          }
        }
        await chainAudit(tx, dialect, audit, knownHead);
      });
    } catch (error) {
      // The commit itself (or the chaining) failed: nothing of the group was kept.
      for (const p of group) p.reject(error);
      return;
    }
    group.forEach((p, i) => {
      const o = outcomes[i];
      if (o?.ok) p.resolve(o.value);
      else p.reject(o?.error);
    });
  };
  const pump = (): void => {
    while (busyLanes < LANES && waiting.length > 0) {
      busyLanes += 1;
      void runGroup(waiting.splice(0, GROUP_MAX)).finally(() => {
        busyLanes -= 1;
        pump();
      });
    }
  };

  // Finishes (a delivery's final status with its audit entry) go to PostgreSQL in batches: one
  // statement at a time, carrying every finish asked for while the one before was under way, so
  // that the chain head it starts from is always the one the last statement left. A batch that
  // cannot go that way (head unknown or moved by another process, a delivery not as its job
  // knew it) is done in transactions, one per finish, before the next batch starts.
  const finishInTransaction = (r: FinishRequest) =>
    store.transaction(async (tx) => {
      const done = await tx.deliveries.finish(r.delivery.id, r.status, r.details);
      await tx.audit.append(r.audit(done));
      return done;
    });
  const finish = batchOneAtATime(
    async (batch: FinishRequest[]): Promise<(Delivery | Promise<Delivery>)[]> =>
      (await onCurrentHead(() => finishInOneStatement(db, knownHead, batch, now()))) ??
      batch.map(finishInTransaction),
    { max: FINISH_BATCH_MAX },
  );

  /**
   * A one-statement write (finish, post insert) that found the chain head moved by another
   * process (the API and the worker both append), or did not know it yet, is tried once more on
   * the head as it is now, read without a lock: one read and one statement instead of a
   * transaction of five or more round trips holding the head's lock. Undefined when that fails
   * too, or when the head had not moved (a delivery was not as its job knew it): the caller then
   * uses transactions. A failing statement wrote nothing.
   */
  async function onCurrentHead<T>(attempt: () => Promise<T | undefined>): Promise<T | undefined> {
    const was = knownHead.current;
    const first = await attempt().catch(() => undefined);
    if (first !== undefined) return first;
    const head = await readAuditHead(db).catch(() => undefined);
    if (!head || (was && was.seq === head.seq && was.hash === head.hash)) return undefined;
    knownHead.current = head;
    return attempt().catch(() => undefined);
  }

  const store: Store = {
    ...repos,
    dialect,
    transaction: <T>(fn: (tx: Repositories) => Promise<T>) =>
      unavailableAsStoreError(
        () =>
          new Promise<T>((resolve, reject) => {
            waiting.push({ fn, resolve: resolve as (v: unknown) => void, reject });
            pump();
          }),
      )(),

    finishDelivery: unavailableAsStoreError((delivery, status, details, audit) =>
      // SQLite: in process, one writer; its transactions are grouped already.
      dialect === 'postgres'
        ? finish({ delivery, status, details, audit })
        : finishInTransaction({ delivery, status, details, audit }),
    ),

    insertPostsAudited: unavailableAsStoreError(async (posts, deliveries, audits, blobs = []) => {
      if (dialect === 'postgres' && blobs.length === 0) {
        // A failing statement wrote nothing: the transaction then does it, or fails as it would have.
        const done = await onCurrentHead(() =>
          insertPostsInOneStatement(db, knownHead, posts, deliveries, audits, now()),
        );
        if (done) return done;
      }
      return store.transaction(async (tx) => {
        for (const blob of blobs) await tx.blobs.put(blob);
        const written = await tx.posts.insertWithDeliveries(posts, deliveries);
        for (const entry of audits) await tx.audit.append(entry);
        return written;
      });
    }),

    verifyAudit: unavailableAsStoreError((opts) =>
      verifyAuditChain({ db, dialect, url: options.url, schema: options.schema }, opts),
    ),

    clock: unavailableAsStoreError(async () => {
      // SQLite lives on this host: the process clock is the store's clock.
      if (dialect !== 'postgres') return new Date();
      const { rows } = await sql<{ now: Date | string }>`select clock_timestamp() as now`.execute(db);
      const value = rows[0]?.now;
      if (value === undefined) throw new StoreError('the database did not say what time it is');
      return value instanceof Date ? value : new Date(value);
    }),

    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },

    async upkeepWarnings() {
      if (dialect !== 'postgres') return [];
      // Each delivery's status changes leave dead row versions behind; only vacuum reclaims them.
      const { rows } = await sql<{ server: string; table_off: boolean }>`
        select current_setting('autovacuum') as server,
          exists (
            select 1 from pg_class c, unnest(c.reloptions) o
            where c.oid = to_regclass('deliveries') and o ~* '^autovacuum_enabled=(false|off|no|0)$'
          ) as table_off`.execute(db);
      const row = rows[0];
      if (!row) return [];
      const where = [
        ...(row.server === 'off' ? ['for the whole server (autovacuum = off)'] : []),
        ...(row.table_off ? ['for the deliveries table (autovacuum_enabled = false)'] : []),
      ];
      if (where.length === 0) return [];
      return [
        `PostgreSQL's autovacuum is off ${where.join(' and ')}: nothing reclaims the row versions ` +
          "that every delivery's status changes leave behind, and the store slows down as they pile " +
          'up (in the benchmarks, deliveries per second fell by about 40 % within minutes of full ' +
          'load). Turn it on (postgresql.conf: autovacuum = on; ALTER TABLE deliveries RESET ' +
          '(autovacuum_enabled)), or vacuum on a schedule (vacuumdb --analyze).',
      ];
    },

    async close() {
      await db.destroy();
    },
  };
  return store;
}

/** Whether a migration failed because a schema other than `own` vanished while it read the catalog. */
function otherSchemaDropped(error: unknown, own: string | undefined): boolean {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  if (e?.code !== '3F000' || typeof e.message !== 'string') return false;
  const missing = /schema "([^"]+)" does not exist/.exec(e.message)?.[1];
  return missing !== undefined && missing !== own;
}

/**
 * Readers of the audit chain: one database connection inside one read transaction each, straight
 * through the drivers (better-sqlite3 read-only, pg with rows as arrays of text), or through the
 * store's own Kysely for an in-memory database.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { readAuditHead } from '../audit-head.ts';
import { GENESIS_HASH } from '../migrations.ts';
import type { AuditLogTable, Database } from '../schema.ts';
import type { Dialect } from '../types.ts';
import { COLUMNS, SEQ, verifyRange, type RangeResult, type RangeTask, type Row } from './canonical.ts';

/** Where the chain is read from: the store's own Kysely instance and how it was opened. */
export interface AuditSource {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The URL the store was opened with (a SQLite path or a postgres:// URL). */
  url: string;
  /** The PostgreSQL schema the store lives in, when not the default one. */
  schema?: string | undefined;
}
/** PostgreSQL: the application_name of a verification's connections. */
export const VERIFY_APPLICATION_NAME = 'sunset-audit-verify';

/** One database connection inside one read transaction: what it reads is one snapshot. */
export interface ChainReader {
  head(): Promise<{ seq: number; hash: string }>;
  /** Rows from..to in seq order, in batches (to undefined: to the last row). */
  batches(from: number, to: number | undefined, size: number): AsyncIterable<Row[]>;
  /** The lowest seq after `seq`, if any. */
  nextSeqAfter(seq: number): Promise<number | undefined>;
  close(): Promise<void>;
}

/** How a worker (or the calling thread) reaches the database without the store's Kysely. */
export type Connection =
  { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string; schema?: string };

const SELECT = `select ${COLUMNS.join(', ')} from audit_log`;

export function sqliteReader(file: string): ChainReader {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  // WAL: the snapshot is taken at the first read and kept until commit.
  db.exec('begin');
  const range = db.prepare(`${SELECT} where seq >= ? and seq <= ? order by seq`).raw();
  const after = db.prepare(`${SELECT} where seq >= ? order by seq limit ?`).raw();
  const next = db.prepare('select min(seq) from audit_log where seq > ?').pluck();
  return {
    head: async () => {
      const h = db.prepare('select seq, hash from audit_head where id = 1').get() as {
        seq: number;
        hash: string;
      };
      return { seq: Number(h.seq), hash: h.hash };
    },
    async *batches(from, to, size) {
      for (let start = from; ;) {
        const rows = (
          to === undefined ? after.all(start, size) : range.all(start, Math.min(to, start + size - 1))
        ) as Row[];
        yield rows;
        // better-sqlite3 is synchronous: let the event loop run between batches.
        await nextTurn();
        if (to === undefined) {
          if (rows.length < size) return;
          start = Number(rows[rows.length - 1]?.[SEQ]) + 1;
        } else {
          start += size;
          if (start > to) return;
        }
      }
    },
    nextSeqAfter: async (seq) => (next.get(seq) as number | null) ?? undefined,
    close: async () => {
      db.exec('commit');
      db.close();
    },
  };
}

export async function postgresReader(url: string, schema: string | undefined): Promise<ChainReader> {
  const client = new pg.Client({
    connectionString: url,
    // What pg_stat_activity shows for the verification's connections.
    application_name: VERIFY_APPLICATION_NAME,
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    // Every column as the text the server sends: the canonical text is made from it.
    types: { getTypeParser: () => (value: string) => value },
  });
  await client.connect();
  try {
    await client.query('begin transaction isolation level repeatable read read only');
  } catch (err) {
    await client.end();
    throw err;
  }
  const rangeQuery = (from: number, to: number) =>
    client.query<Row>({
      name: 'sunset_verify_range',
      text: `${SELECT} where seq between $1 and $2 order by seq`,
      values: [from, to],
      rowMode: 'array',
    });
  return {
    async head() {
      const r = await client.query<[string, string]>({
        text: 'select seq, hash from audit_head where id = 1',
        rowMode: 'array',
      });
      const [seq, hash] = r.rows[0] ?? ['0', GENESIS_HASH];
      return { seq: Number(seq), hash };
    },
    async *batches(from, to, size) {
      if (to === undefined) {
        for (let start = from; ;) {
          const { rows } = await client.query<Row>({
            name: 'sunset_verify_after',
            text: `${SELECT} where seq >= $1 order by seq limit $2`,
            values: [start, size],
            rowMode: 'array',
          });
          yield rows;
          if (rows.length < size) return;
          start = Number(rows[rows.length - 1]?.[SEQ]) + 1;
        }
      }
      // Ask for the next batch before handing out this one: the server reads it while this
      // thread hashes.
      let pending = rangeQuery(from, Math.min(to, from + size - 1));
      for (let start = from; start <= to; start += size) {
        const current = await pending;
        const following = start + size;
        if (following <= to) pending = rangeQuery(following, Math.min(to, following + size - 1));
        yield current.rows;
      }
    },
    async nextSeqAfter(seq) {
      const r = await client.query<[string | null]>({
        text: 'select min(seq) from audit_log where seq > $1',
        values: [seq],
        rowMode: 'array',
      });
      const next = r.rows[0]?.[0];
      return next === null || next === undefined ? undefined : Number(next);
    },
    async close() {
      await client.query('commit').catch(() => undefined);
      await client.end();
    },
  };
}

/** Through the store's own Kysely (an in-memory SQLite database has no second connection). */
export function kyselyReader(db: Kysely<Database>): ChainReader {
  const toRow = (r: AuditLogTable): Row => COLUMNS.map((column) => r[column]);
  return {
    head: () => readAuditHead(db),
    async *batches(from, to, size) {
      for (let start = from; ;) {
        let q = db.selectFrom('audit_log').selectAll().where('seq', '>=', start).orderBy('seq').limit(size);
        if (to !== undefined) q = q.where('seq', '<=', to);
        const rows = (await q.execute()).map(toRow);
        yield rows;
        if (rows.length < size) return;
        start = Number(rows[rows.length - 1]?.[SEQ]) + 1;
      }
    },
    async nextSeqAfter(seq) {
      const r = await db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.min('seq').as('next'))
        .where('seq', '>', seq)
        .executeTakeFirst();
      return r?.next === null || r?.next === undefined ? undefined : Number(r.next);
    },
    close: async () => undefined,
  };
}

export function openReader(connection: Connection): Promise<ChainReader> {
  return connection.dialect === 'sqlite'
    ? Promise.resolve(sqliteReader(connection.file))
    : postgresReader(connection.url, connection.schema);
}

/** The file openStore opened (`sqlite:` prefix or not); undefined for an in-memory database. */
export function connectionOf(source: AuditSource): Connection | undefined {
  if (source.dialect === 'postgres') {
    return {
      dialect: 'postgres',
      url: source.url,
      ...(source.schema !== undefined ? { schema: source.schema } : {}),
    };
  }
  const file = source.url.replace(/^sqlite:(\/\/)?/i, '');
  return file === '' || file === ':memory:' || file.startsWith('file:')
    ? undefined
    : { dialect: 'sqlite', file };
}

export interface Span {
  from: number;
  /** The range's last seq; undefined for the last range: up to the head, then any rows past it. */
  to: number | undefined;
  batchSize: number;
}

/** What verifying a span found, with the head it read (the last span only). */
export interface SpanReport {
  result: RangeResult;
  /** The last seq the span had to hold (for the last span: the head's). */
  to: number;
  head?: { seq: number; hash: string };
}

/**
 * Verifies a span over one reader. The last span reads the head first, in the snapshot its rows
 * come from, so an append made meanwhile is neither half-seen nor taken for a broken chain.
 */
export async function verifySpan(
  reader: ChainReader,
  span: Span,
  options: Pick<RangeTask, 'prevHash' | 'recheck' | 'onBatch'>,
): Promise<SpanReport> {
  const head = span.to === undefined ? await reader.head() : undefined;
  const to = span.to ?? head?.seq ?? 0;
  async function* rows(): AsyncIterable<Row[]> {
    if (span.from <= to) yield* reader.batches(span.from, to, span.batchSize);
    if (head) yield* reader.batches(Math.max(span.from, to + 1), undefined, span.batchSize);
  }
  const result = await verifyRange(rows(), { from: span.from, to, ...options });
  return { result, to, ...(head ? { head } : {}) };
}

/**
 * What every repository module is built over, and the few helpers their statements share.
 */
import { sql, type Insertable, type Kysely, type RawBuilder } from 'kysely';
import { insertJsonRows, jsonCarries } from '../bulk-insert.ts';
import type { Database } from '../schema.ts';
import type { Dialect } from '../types.ts';
import type { KnownHead, PendingAudit } from './audit.ts';

export interface RepoContext {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Runs fn in a transaction, or directly when `db` is already one. */
  atomic<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  now(): Date;
  /**
   * Inside a group transaction (open.ts): where audit entries wait to be chained. The group
   * writes them all at its end, under the chain head's lock, just before it commits.
   */
  auditSink?: (entry: PendingAudit) => void;
  /** The store's view of the chain head (see chainAudit). */
  knownHead?: KnownHead;
  /**
   * The pool's repositories on PostgreSQL (open.ts): claims and outcome-unknown marks asked for
   * while one of their statements is under way go together in the next one, with this many
   * claim statements under way at once. Absent inside a transaction, whose statements run in turn.
   */
  batch?: { claimsAtOnce: number };
}

/** Rows per multi-row insert: well under both databases' limits on bound parameters. */
export const ROWS_PER_INSERT = 200;

export async function insertInChunks<T extends keyof Database & string>(
  q: Kysely<Database>,
  dialect: Dialect,
  table: T,
  rows: readonly Insertable<Database[T]>[],
): Promise<void> {
  if (dialect === 'postgres' && rows.length > 1 && jsonCarries(rows)) return insertJsonRows(q, table, rows);
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    await q
      .insertInto(table)
      .values(rows.slice(i, i + ROWS_PER_INSERT))
      .execute();
  }
}

/**
 * A status condition for statements that name their deliveries by id: checked on the rows the
 * primary key finds, never used to look rows up (`(…) is true` is no index condition). Right
 * after a plan apply or a burst of crises the table's statistics still count few queued
 * deliveries, and PostgreSQL would then go through the status index, reading every queued
 * delivery to keep the few asked for (the measurements: README, "Measurements").
 */
export const checkedOnTheRow = (condition: RawBuilder<unknown>) => sql<boolean>`(${condition}) is true`;

export const iso = (d: Date) => d.toISOString();
export const text = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
export const parse = (v: string | null): unknown => (v === null ? undefined : (JSON.parse(v) as unknown));
export const CHUNK = 500;

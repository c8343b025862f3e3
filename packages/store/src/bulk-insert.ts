/**
 * Many rows into one table in one statement, on PostgreSQL. The rows travel as one JSON
 * parameter that `json_populate_recordset` turns back into rows of the table, instead of one
 * bound parameter per value: building and binding the statement then costs next to nothing
 * whatever the number of rows (a crisis burst writes hundreds of deliveries and parts at once).
 * Only rows that JSON carries exactly qualify (see `jsonCarries`); the caller inserts the others
 * with an ordinary multi-row statement.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema.ts';

/**
 * Whether the rows read back the same through JSON as bound one value at a time: the same
 * columns in every row, and only text, finite numbers and nulls. Left out: binary data, unset
 * (undefined) fields, which an ordinary insert fills with the column's default, and strings with
 * a lone surrogate, which a bound parameter carries as U+FFFD and PostgreSQL's JSON refuses.
 */
export function jsonCarries(rows: readonly object[]): boolean {
  const first = rows[0];
  if (!first) return false;
  const columns = Object.keys(first);
  for (const row of rows as readonly Record<string, unknown>[]) {
    if (Object.keys(row).length !== columns.length) return false;
    for (const column of columns) {
      const value = row[column];
      if (value === null) continue;
      if (typeof value === 'string') {
        if (!value.isWellFormed()) return false;
      } else if (typeof value !== 'number' || !Number.isFinite(value)) return false;
    }
  }
  return true;
}

/**
 * The insert of rows that `jsonCarries` accepted (PostgreSQL only). With `onlyWith`, the name of
 * a WITH clause of the same statement, the rows go in only when that clause gives a row.
 */
export function jsonInsert(
  table: keyof Database & string,
  rows: readonly object[],
  onlyWith?: string,
): RawBuilder<unknown> {
  const columns = sql.join(Object.keys(rows[0] ?? {}).map((c) => sql.ref(c)));
  const from = onlyWith ? sql`${sql.raw(onlyWith)}, ` : sql``;
  return sql`insert into ${sql.table(table)} (${columns}) select ${columns} from ${from}json_populate_recordset(null::${sql.table(table)}, ${JSON.stringify(rows)}::json)`;
}

/** Inserts rows that `jsonCarries` accepted, in one statement (PostgreSQL only). */
export async function insertJsonRows(
  q: Kysely<Database>,
  table: keyof Database & string,
  rows: readonly object[],
): Promise<void> {
  await jsonInsert(table, rows).execute(q);
}

/**
 * Rows of several tables in one statement (PostgreSQL only), each accepted by `jsonCarries`:
 * the inserts in data-modifying WITH clauses, the last one the statement itself. Foreign keys
 * between them are checked at the end of the statement, so a table may refer to rows of one
 * before it.
 */
export async function insertJsonTables(
  q: Kysely<Database>,
  tables: readonly (readonly [keyof Database & string, readonly object[]])[],
): Promise<void> {
  const inserts = tables.map(([table, rows]) => jsonInsert(table, rows));
  const last = inserts.pop();
  if (!last) return;
  const withs = inserts.map((insert, i) => sql`${sql.raw(`w${i}`)} as (${insert})`);
  await (withs.length > 0 ? sql`with ${sql.join(withs)} ${last}` : last).execute(q);
}

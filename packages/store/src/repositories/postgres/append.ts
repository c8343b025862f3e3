/** PostgreSQL: audit entries appended on the chain head this process knows, in one statement. */
import { sql, type Kysely } from 'kysely';
import { jsonInsert } from '../../bulk-insert.ts';
import type { AuditLogTable, Database } from '../../schema.ts';
import type { KnownHead } from '../audit.ts';
import { prepared } from './sql.ts';

/**
 * PostgreSQL: audit rows hashed onto the known head `from` (as auditToRow writes them), with rows of other tables beside them, in one statement that moves the head from `from`
 * to the last entry and inserts everything only if it moved. Whether it moved. The known head is
 * set to the last entry at once: the next writer of this process chains onto these entries, its
 * statement waiting for this one's lock on the head; on a miss or an error it is taken back.
 */
export async function appendOnKnownHead(
  q: Kysely<Database>,
  known: KnownHead,
  from: { seq: number; hash: string },
  rows: readonly AuditLogTable[],
  tables: readonly (readonly [keyof Database & string, readonly object[]])[],
  statement: string,
): Promise<boolean> {
  const last = rows[rows.length - 1]!;
  const withs = [
    sql`moved as (update audit_head set seq = ${last.seq}, hash = ${last.hash}
      where id = 1 and seq = ${from.seq} and hash = ${from.hash} returning 1)`,
    ...tables.map(([table, r], i) => sql`${sql.raw(`w${i}`)} as (${jsonInsert(table, r, 'moved')})`),
  ];
  const mine = { seq: last.seq, hash: last.hash };
  known.current = mine;
  let moved = false;
  try {
    const result =
      await sql`${prepared(statement)}with ${sql.join(withs)} ${jsonInsert('audit_log', rows, 'moved')}`.execute(
        q,
      );
    moved = Number(result.numAffectedRows ?? 0) === rows.length;
  } finally {
    if (!moved && known.current === mine) known.current = undefined;
  }
  return moved;
}

/**
 * The chain head: the last entry's seq and hash, one row. Kept free of runtime imports, as
 * verify/readers.ts (which also runs in worker threads) reads it too.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** Reads the head; `forUpdate` locks it until the transaction `q` ends (PostgreSQL). */
export async function readAuditHead(
  q: Kysely<Database>,
  forUpdate = false,
): Promise<{ seq: number; hash: string }> {
  let query = q.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
  if (forUpdate) query = query.forUpdate();
  const h = await query.executeTakeFirstOrThrow();
  return { seq: Number(h.seq), hash: h.hash };
}

/** PostgreSQL: new posts, their deliveries and their audit entries in one statement. */
import type { Kysely } from 'kysely';
import { jsonCarries } from '../../bulk-insert.ts';
import type { Database } from '../../schema.ts';
import type { AuditInput, Delivery, NewDelivery, Post } from '../../types.ts';
import { cleanAudit, hashOntoRows, type KnownHead } from '../audit.ts';
import { iso, ROWS_PER_INSERT } from '../context.ts';
import { deliveriesOf, deliveryRows, postRows } from '../rows.ts';
import { appendOnKnownHead } from './append.ts';

/**
 * PostgreSQL: new posts, their deliveries (with parts) and the audit entries that record them in
 * one statement, without a transaction around it (a statement is atomic on its own): what a
 * transaction doing `posts.insertWithDeliveries` and then appending the entries does, in one
 * round trip instead of four (begin, the rows, the entries, commit). The entries are hashed onto
 * the chain head this process knows, and the statement moves the head from it: the rows go in
 * only if the head moved. Undefined when that cannot be done this way (the head unknown or moved
 * by another writer, a value JSON cannot carry, more rows than one statement takes): nothing was
 * written and the caller uses a transaction. Errors of the rows themselves (a post id taken)
 * are thrown, with nothing written.
 */
export async function insertPostsInOneStatement(
  db: Kysely<Database>,
  known: KnownHead,
  posts: readonly Omit<Post, 'createdAt'>[],
  ds: readonly NewDelivery[],
  audits: readonly AuditInput[],
  at: Date,
): Promise<{ posts: Post[]; deliveries: Delivery[] } | undefined> {
  const head = known.current;
  if (!head || audits.length === 0 || audits.length > ROWS_PER_INSERT) return undefined;
  const t = iso(at);
  const { rows, parts } = deliveryRows(ds, t);
  const tables = (
    [
      ['posts', postRows(posts, t)],
      ['deliveries', rows],
      ['delivery_parts', parts],
    ] as const
  ).filter(([, r]) => r.length > 0);
  const auditRows = hashOntoRows(
    head,
    audits.map((input) => ({ input: cleanAudit(input), at })),
  );
  if (!tables.every(([, r]) => jsonCarries(r)) || !jsonCarries(auditRows)) return undefined;
  if (!(await appendOnKnownHead(db, known, head, auditRows, tables, 'insert-posts'))) return undefined;
  return { posts: posts.map((post) => ({ ...post, createdAt: at })), deliveries: deliveriesOf(rows, parts) };
}

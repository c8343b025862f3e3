/**
 * Pieces of PostgreSQL statements the batched paths share: the prepared-statement mark, the
 * id list the planner needs, the parts of a delivery as one JSON value.
 */
import { sql, type RawBuilder } from 'kysely';

/**
 * PostgreSQL: marks a statement of the hot path, sent again and again with the same text (its
 * rows travel as JSON parameters), as one to prepare once per connection instead of having
 * PostgreSQL parse it each time (open.ts, PreparingClient). The text must not depend on the
 * values, only on a few shapes at most.
 */
export const prepared = (name: string) => sql.raw(`/* ${PREPARED_MARK}${name} */ `);
export const PREPARED_MARK = 'sunset:prepare:';

/**
 * PostgreSQL: `column = any(ids)`, beside a join with a JSON input, so that the planner knows how
 * many rows the statement names (it takes a JSON input for 100): without it a claim of one
 * delivery scanned the whole table while it was small. The claim, the outcome-unknown mark and
 * plan apply's replace use it; the finish does not, where it cost PostgreSQL more CPU than it saved
 * (README, "Measurements").
 */
export const amongIds = (column: RawBuilder<unknown>, rows: readonly { id: string }[]) =>
  sql<boolean>`${column} = any(${rows.map((r) => r.id)}::text[])`;

/** A subquery: the delivery's parts as one JSON array of rows, in part order (PostgreSQL). */
export function partsJson(deliveryId: ReturnType<typeof sql>) {
  return sql<string>`(select coalesce(json_agg(p order by p.part), '[]') from delivery_parts p
    where p.delivery_id = ${deliveryId})`;
}

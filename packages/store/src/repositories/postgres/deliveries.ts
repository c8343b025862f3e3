/**
 * The delivery methods whose statements differ by dialect, as PostgreSQL runs them: one statement
 * where SQLite takes several, and on the pool (not inside a transaction) claims and outcome-unknown
 * marks asked for while one of their statements is under way go together in the next one (each
 * job's own round trip becomes a share of one).
 */
import { sql, type Kysely, type QueryCreator } from 'kysely';
import { batchOneAtATime } from '@sunset/core';
import type { Database } from '../../schema.ts';
import { iso, type RepoContext } from '../context.ts';
import { finishStatements, type DialectDeliveries } from '../finish.ts';
import { leaseEnd, partOutcomeUnknown } from '../leases.ts';
import { deliveryFromRow, partsFromJson } from '../rows.ts';
import {
  claimMany,
  markOutcomeMany,
  renewForSendMany,
  type ClaimRequest,
  type RenewRequest,
} from './claim.ts';
import { partsJson } from './sql.ts';

export function postgresDeliveries(ctx: RepoContext): DialectDeliveries {
  const { db, now } = ctx;
  const oneAtATime = ctx.batch;
  const claim = oneAtATime
    ? batchOneAtATime((batch: ClaimRequest[]) => claimMany(db, batch, now()), {
        concurrency: oneAtATime.claimsAtOnce,
      })
    : async (request: ClaimRequest) => (await claimMany(db, [request], now()))[0];
  const mark = oneAtATime
    ? batchOneAtATime(
        async (batch: { id: string; part: number; unknown: boolean; epoch: number | undefined }[]) => {
          await markOutcomeMany(db, batch);
          return batch.map(() => undefined);
        },
      )
    : undefined;
  const renew = oneAtATime
    ? batchOneAtATime((batch: RenewRequest[]) => renewForSendMany(db, batch))
    : async (request: RenewRequest) => (await renewForSendMany(db, [request]))[0];
  return {
    // One statement takes it and its lease (atomic on its own), with its parts and the post its
    // post answers.
    claim: (id, jobId, lease) => claim({ id, jobId, lease }),
    partOutcomeUnknown: mark
      ? (id, part, unknown, epoch) => mark({ id, part, unknown, epoch })
      : partOutcomeUnknown(ctx),
    renewLeaseForSend: (id, epoch, ttlMs) => renew({ id, epoch, until: iso(leaseEnd(now(), { ttlMs })) }),
    finish(id, status, details) {
      const { landed, setPart, setDelivery, missing } = finishStatements(ctx, id, status, details);
      // One statement: the landed part, the delivery, and its parts as they are now (the
      // statement's own reads see the table as it was before it, so the landed part comes
      // from what its update returned).
      const run = async (q: Kysely<Database>) => {
        const row = landed
          ? await q
              .with('landed', (w) => setPart(w, landed).returningAll())
              // The second expression does not read the first: built over the plain schema.
              .with('done', (w) => setDelivery(w as unknown as QueryCreator<Database>))
              .selectFrom('done')
              .selectAll('done')
              .select(
                sql<string>`(select coalesce(json_agg(x order by x.part), '[]') from (
                  select * from landed
                  union all
                  select * from delivery_parts p
                  where p.delivery_id = done.id and p.part not in (select part from landed)) x)`.as(
                  'parts_json',
                ),
              )
              .executeTakeFirst()
          : await q
              .with('done', setDelivery)
              .selectFrom('done')
              .selectAll('done')
              .select(partsJson(sql`done.id`).as('parts_json'))
              .executeTakeFirst();
        if (!row) throw await missing(q);
        const { parts_json, ...delivery } = row;
        return deliveryFromRow(delivery, partsFromJson(parts_json));
      };
      // Already inside a transaction, or on its own: one statement is atomic either way.
      return run(db);
    },
  };
}

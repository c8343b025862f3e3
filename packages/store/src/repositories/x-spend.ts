/** What X charged, request by request, and the ordinary X deliveries held until X is resumed. */
import type { Insertable } from 'kysely';
import { batchOneAtATime } from '@sunset/core';
import type { XUsageTable } from '../schema.ts';
import type { Repositories } from '../types.ts';
import { insertInChunks, iso, type RepoContext } from './context.ts';

export function xSpendRepository({ db, dialect, now, batch }: RepoContext): Repositories['xSpend'] {
  // On PostgreSQL's pool, the records of the X posts landing while one insert is under way go
  // together in the next (one row per landed X part: one statement each was most of the X path's).
  const insertOne = async (row: Insertable<XUsageTable>): Promise<undefined> => {
    await db.insertInto('x_usage').values(row).execute();
    return undefined;
  };
  const insert =
    dialect === 'postgres' && batch
      ? batchOneAtATime(async (rows: Insertable<XUsageTable>[]) => {
          // A failing batch (one row's organisation gone, say) is tried row by row: the others land.
          try {
            await insertInChunks(db, dialect, 'x_usage', rows);
            return rows.map(() => undefined);
          } catch (err) {
            if (rows.length === 1) throw err;
            return rows.map(insertOne);
          }
        })
      : insertOne;
  return {
    async record(u) {
      await insert({
        organisation_id: u.organisationId,
        at: iso(now()),
        kind: u.kind,
        count: u.count,
        cost_micros: u.costMicros,
        crisis: u.crisis ? 1 : 0,
        delivery_id: u.deliveryId ?? null,
      });
    },
    async spentSince(organisationId, since) {
      const row = await db
        .selectFrom('x_usage')
        .select((eb) => eb.fn.sum<string | number | null>('cost_micros').as('total'))
        .where('organisation_id', '=', organisationId)
        .where('at', '>=', iso(since))
        .executeTakeFirst();
      return Number(row?.total ?? 0);
    },
    async postsSince(organisationId, since) {
      const rows = await db
        .selectFrom('x_usage')
        .select(['kind', 'at'])
        .where('organisation_id', '=', organisationId)
        .where('at', '>', iso(since))
        .where('kind', 'like', 'create%')
        .orderBy('at')
        .execute();
      const replies = rows.filter((r) => r.kind.includes('_reply')).length;
      const first = rows[0];
      return {
        originals: rows.length - replies,
        replies,
        ...(first ? { oldest: new Date(first.at) } : {}),
      };
    },
    async hold(organisationId, deliveryId, reason) {
      await db
        .insertInto('x_holds')
        .values({ delivery_id: deliveryId, organisation_id: organisationId, reason, held_at: iso(now()) })
        .onConflict((oc) => oc.column('delivery_id').doUpdateSet({ reason }))
        .execute();
    },
    async holds(organisationId) {
      const rows = await db
        .selectFrom('x_holds')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .orderBy('held_at')
        .execute();
      return rows.map((r) => ({ deliveryId: r.delivery_id, reason: r.reason, heldAt: new Date(r.held_at) }));
    },
    async release(deliveryId) {
      await db.deleteFrom('x_holds').where('delivery_id', '=', deliveryId).execute();
    },
  };
}

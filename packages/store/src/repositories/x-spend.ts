/** What X charged, request by request, and the ordinary X deliveries held until X is resumed. */
import type { Repositories } from '../types.ts';
import { iso, type RepoContext } from './context.ts';

export function xSpendRepository({ db, now }: RepoContext): Repositories['xSpend'] {
  return {
    async record(u) {
      await db
        .insertInto('x_usage')
        .values({
          organisation_id: u.organisationId,
          at: iso(now()),
          kind: u.kind,
          count: u.count,
          cost_micros: u.costMicros,
          crisis: u.crisis ? 1 : 0,
          delivery_id: u.deliveryId ?? null,
        })
        .execute();
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

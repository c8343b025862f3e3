/** The profile snapshots the dormant-profile step takes before it changes a profile. */
import type { Repositories } from '../types.ts';
import { iso, type RepoContext } from './context.ts';
import { snapshotFromRow } from './rows.ts';

export function profilesRepository({ db, now }: RepoContext): Repositories['profiles'] {
  return {
    async saveSnapshot(s) {
      const takenAt = now();
      const row = await db
        .insertInto('profile_snapshots')
        .values({
          organisation_id: s.organisationId,
          network: s.network,
          delivery_id: s.deliveryId ?? null,
          profile: JSON.stringify(s.profile ?? null),
          taken_at: iso(takenAt),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { ...s, id: Number(row.id), takenAt };
    },
    async latestSnapshot(organisationId, network) {
      const row = await db
        .selectFrom('profile_snapshots')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .where('network', '=', network)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? snapshotFromRow(row) : undefined;
    },
    async snapshotOfDelivery(deliveryId) {
      const row = await db
        .selectFrom('profile_snapshots')
        .selectAll()
        .where('delivery_id', '=', deliveryId)
        .orderBy('id')
        .limit(1)
        .executeTakeFirst();
      return row ? snapshotFromRow(row) : undefined;
    },
  };
}

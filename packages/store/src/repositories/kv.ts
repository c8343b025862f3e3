/** Key-value state per organisation (Bluesky sessions). */
import type { Repositories } from '../types.ts';
import { iso, type RepoContext } from './context.ts';

export function kvRepository({ db, now }: RepoContext): Repositories['kv'] {
  return {
    async get(organisationId, key) {
      const row = await db
        .selectFrom('kv')
        .select('value')
        .where('organisation_id', '=', organisationId)
        .where('key', '=', key)
        .executeTakeFirst();
      return row?.value;
    },
    async set(organisationId, key, value) {
      const t = iso(now());
      await db
        .insertInto('kv')
        .values({ organisation_id: organisationId, key, value, updated_at: t })
        .onConflict((oc) => oc.columns(['organisation_id', 'key']).doUpdateSet({ value, updated_at: t }))
        .execute();
    },
    async delete(organisationId, key) {
      await db
        .deleteFrom('kv')
        .where('organisation_id', '=', organisationId)
        .where('key', '=', key)
        .execute();
    },
  };
}

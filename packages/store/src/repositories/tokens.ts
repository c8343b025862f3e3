/** The API tokens, kept by hash. */
import type { Repositories } from '../types.ts';
import { iso, type RepoContext } from './context.ts';
import { tokenFromRow } from './rows.ts';

export function tokensRepository({ db, atomic, now }: RepoContext): Repositories['tokens'] {
  return {
    async create(t) {
      const createdAt = now();
      const person = t.person ?? t.name;
      await db
        .insertInto('api_tokens')
        .values({
          id: t.id,
          organisation_id: t.organisationId,
          name: t.name,
          person,
          role: t.role,
          hash: t.hash,
          created_at: iso(createdAt),
          created_by: t.createdBy,
        })
        .execute();
      return { ...t, person, createdAt };
    },
    async findByHash(hash) {
      const row = await db.selectFrom('api_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
      return row ? tokenFromRow(row) : undefined;
    },
    async findByHashWithPlanVersion(hash) {
      const row = await db
        .selectFrom('api_tokens')
        .selectAll('api_tokens')
        .select((eb) =>
          eb
            .selectFrom('plans')
            .select('plans.version')
            .whereRef('plans.organisation_id', '=', 'api_tokens.organisation_id')
            .orderBy('plans.version', 'desc')
            .limit(1)
            .as('plan_version'),
        )
        .where('hash', '=', hash)
        .executeTakeFirst();
      if (!row) return undefined;
      const { plan_version: version, ...token } = row;
      return {
        token: tokenFromRow(token),
        planVersion: version === null || version === undefined ? undefined : Number(version),
      };
    },
    async list(organisationId) {
      const rows = await db
        .selectFrom('api_tokens')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .orderBy('created_at')
        .execute();
      return rows.map(tokenFromRow);
    },
    revoke(organisationId, idOrName) {
      return atomic(async (q) => {
        const row = await q
          .selectFrom('api_tokens')
          .selectAll()
          .where('organisation_id', '=', organisationId)
          .where('revoked_at', 'is', null)
          .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
          .executeTakeFirst();
        if (!row) return undefined;
        const revokedAt = iso(now());
        await q.updateTable('api_tokens').set({ revoked_at: revokedAt }).where('id', '=', row.id).execute();
        return tokenFromRow({ ...row, revoked_at: revokedAt });
      });
    },
    async touch(id) {
      await db
        .updateTable('api_tokens')
        .set({ last_used_at: iso(now()) })
        .where('id', '=', id)
        .execute();
    },
  };
}

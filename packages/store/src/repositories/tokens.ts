/** The API tokens, kept by hash. */
import type { CompiledQuery, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { Repositories } from '../types.ts';
import { iso, type RepoContext } from './context.ts';
import { tokenFromRow } from './rows.ts';

/** The lookup every authenticated request makes: its statement built and compiled once, not per request. */
function tokenWithPlanVersion(db: Kysely<Database>) {
  const SENTINEL = '\u0000token-hash';
  const compiled = db
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
    .where('hash', '=', SENTINEL)
    .compile();
  const at = compiled.parameters.indexOf(SENTINEL);
  if (at < 0 || compiled.parameters.indexOf(SENTINEL, at + 1) >= 0)
    throw new Error('the token lookup has not exactly one hash parameter');
  return {
    withHash(hash: string): CompiledQuery<Row> {
      const parameters = [...compiled.parameters];
      parameters[at] = hash;
      return { ...compiled, parameters };
    },
  };
}

type Row = Selectable<Database['api_tokens']> & { plan_version: number | string | null };

export function tokensRepository({ db, atomic, now }: RepoContext): Repositories['tokens'] {
  // Built on first use: repositories are also made for every transaction, which seldom look tokens up.
  let withPlanVersion: ReturnType<typeof tokenWithPlanVersion> | undefined;
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
      const row = (await db.executeQuery<Row>((withPlanVersion ??= tokenWithPlanVersion(db)).withHash(hash)))
        .rows[0];
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

/** Key-value state per organisation (Bluesky sessions, X's pause). */
import { sql } from 'kysely';
import { batchOneAtATime } from '@sunset/core';
import type { Repositories } from '../types.ts';
import { iso, type RepoContext } from './context.ts';
import { prepared } from './postgres/sql.ts';

export function kvRepository({ db, dialect, now, batch }: RepoContext): Repositories['kv'] {
  const getOne = async (organisationId: string, key: string) => {
    const row = await db
      .selectFrom('kv')
      .select('value')
      .where('organisation_id', '=', organisationId)
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  };
  // On PostgreSQL's pool, the reads asked for while one is under way go together in the next (the
  // worker reads X's pause before every ordinary X part).
  const getMany =
    dialect === 'postgres' && batch
      ? batchOneAtATime(async (keys: { o: string; k: string }[]) => {
          const { rows } = await sql<{ n: number; value: string }>`${prepared('kv')}
            select i.n, kv.value from json_to_recordset(${JSON.stringify(keys.map((key, n) => ({ ...key, n })))}::json)
              as i("o" text, "k" text, "n" integer)
            join kv on kv.organisation_id = i."o" and kv.key = i."k"`.execute(db);
          const values: (string | undefined)[] = keys.map(() => undefined);
          for (const row of rows) values[row.n] = row.value;
          return values;
        })
      : undefined;
  return {
    get: getMany ? (organisationId, key) => getMany({ o: organisationId, k: key }) : getOne,
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

/** The organisations: one row per organisation that has a plan, a token or posts. */
import type { Repositories } from '../types.ts';
import { iso, type RepoContext } from './context.ts';

export function organisationsRepository({ db, dialect, now }: RepoContext): Repositories['organisations'] {
  const forUpdate = dialect === 'postgres';
  return {
    async ensure(org) {
      const existing = await db
        .selectFrom('organisations')
        .selectAll()
        .where('id', '=', org.id)
        .executeTakeFirst();
      if (existing && existing.name === org.name) {
        return { id: existing.id, name: existing.name, createdAt: new Date(existing.created_at) };
      }
      if (existing) {
        await db.updateTable('organisations').set({ name: org.name }).where('id', '=', org.id).execute();
        return { id: existing.id, name: org.name, createdAt: new Date(existing.created_at) };
      }
      const createdAt = now();
      await db
        .insertInto('organisations')
        .values({ id: org.id, name: org.name, created_at: iso(createdAt) })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return { id: org.id, name: org.name, createdAt };
    },
    async get(id) {
      const row = await db.selectFrom('organisations').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? { id: row.id, name: row.name, createdAt: new Date(row.created_at) } : undefined;
    },
    async list() {
      const rows = await db.selectFrom('organisations').selectAll().orderBy('id').execute();
      return rows.map((row) => ({ id: row.id, name: row.name, createdAt: new Date(row.created_at) }));
    },
    async lock(id) {
      // SQLite transactions already hold the database's write lock (BEGIN IMMEDIATE).
      if (forUpdate)
        await db.selectFrom('organisations').select('id').where('id', '=', id).forUpdate().execute();
    },
  };
}

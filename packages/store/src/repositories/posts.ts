/** The posts: what was asked for (plan, API or crisis), before it became deliveries. */
import { insertJsonTables, jsonCarries } from '../bulk-insert.ts';
import type { Delivery, NewDelivery, Post, Repositories } from '../types.ts';
import { insertInChunks, iso, ROWS_PER_INSERT, type RepoContext } from './context.ts';
import { deliveriesOf, deliveryRows, postFromRow, postRows } from './rows.ts';

export function postsRepository(ctx: RepoContext): Repositories['posts'] {
  const { db, dialect, atomic, now } = ctx;

  const insertPosts = async (posts: readonly Omit<Post, 'createdAt'>[]): Promise<Post[]> => {
    if (posts.length === 0) return [];
    const createdAt = now();
    const rows = postRows(posts, iso(createdAt));
    // More than one statement's worth: all of them or none.
    if (rows.length <= ROWS_PER_INSERT) await insertInChunks(db, dialect, 'posts', rows);
    else await atomic((q) => insertInChunks(q, dialect, 'posts', rows));
    return posts.map((post) => ({ ...post, createdAt }));
  };

  /**
   * Posts and their deliveries (with parts) together: on PostgreSQL one statement for the three
   * tables when JSON carries every row (`jsonCarries`), a round trip or two fewer than one per table.
   */
  const insertPostsWithDeliveries = (
    posts: readonly Omit<Post, 'createdAt'>[],
    ds: readonly NewDelivery[],
  ): Promise<{ posts: Post[]; deliveries: Delivery[] }> =>
    atomic(async (q) => {
      const createdAt = now();
      const rowsOfPosts = postRows(posts, iso(createdAt));
      const { rows, parts } = deliveryRows(ds, iso(now()));
      const tables = (
        [
          ['posts', rowsOfPosts],
          ['deliveries', rows],
          ['delivery_parts', parts],
        ] as const
      ).filter(([, r]) => r.length > 0);
      if (dialect === 'postgres' && tables.every(([, r]) => jsonCarries(r))) {
        await insertJsonTables(q, tables);
      } else {
        for (const [table, r] of tables) await insertInChunks(q, dialect, table, r);
      }
      return {
        posts: posts.map((post) => ({ ...post, createdAt })),
        deliveries: deliveriesOf(rows, parts),
      };
    });

  return {
    async insert(post) {
      const [one] = await insertPosts([post]);
      return one!;
    },
    insertMany: (posts) => insertPosts(posts),
    insertWithDeliveries: (posts, deliveries) => insertPostsWithDeliveries(posts, deliveries),
    async get(organisationId, id) {
      const row = await db
        .selectFrom('posts')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .where('id', '=', id)
        .executeTakeFirst();
      return row ? postFromRow(row) : undefined;
    },
    async list(organisationId, filter = {}) {
      let query = db.selectFrom('posts').selectAll().where('organisation_id', '=', organisationId);
      if (filter.source) query = query.where('source', '=', filter.source);
      if (filter.before) query = query.where('created_at', '<', iso(filter.before));
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(filter.limit ?? 100)
        .execute();
      return rows.map(postFromRow);
    },
    async setContent(organisationId, id, content) {
      await db
        .updateTable('posts')
        .set({ content: JSON.stringify(content ?? null) })
        .where('organisation_id', '=', organisationId)
        .where('id', '=', id)
        .execute();
    },
  };
}

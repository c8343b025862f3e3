/**
 * The deliveries (the outbox): one row per post and network, profile or policy step, with its
 * parts. The methods whose statements differ by dialect (claim, outcome-unknown mark, finish) are
 * in sqlite.ts and postgres/deliveries.ts, leases in leases.ts, plan re-apply's rewrite in
 * replace.ts; index.ts puts them together.
 */
import { sql } from 'kysely';
import { batchOneAtATime, type Network } from '@sunset/core';
import type {
  Delivery,
  DeliveryFilter,
  DeliveryStatus,
  NewDelivery,
  PostSource,
  Repositories,
} from '../types.ts';
import { checkedOnTheRow, CHUNK, insertInChunks, iso, type RepoContext } from './context.ts';
import type { DialectDeliveries } from './finish.ts';
import { prepared } from './postgres/sql.ts';
import { deliveriesOf, deliveryRows, getDelivery, HEAD_COLUMNS, headFromRow, withParts } from './rows.ts';

/** What every dialect's deliveries do alike, lease methods and re-apply aside. */
export type CommonDeliveries = Omit<
  Repositories['deliveries'],
  keyof DialectDeliveries | 'leaseOf' | 'renewLease' | 'partPublished' | 'replaceMany'
>;

export function deliveriesRepository(ctx: RepoContext): CommonDeliveries {
  const { db, dialect, atomic, now } = ctx;

  /** The deliveries a filter selects, in due order (list and listHeads). */
  const filteredDeliveries = (filter: DeliveryFilter) => {
    let query = db.selectFrom('deliveries');
    if (filter.organisationId !== undefined)
      query = query.where('organisation_id', '=', filter.organisationId);
    if (filter.postId !== undefined) query = query.where('post_id', '=', filter.postId);
    if (filter.network !== undefined) query = query.where('network', '=', filter.network);
    if (filter.source !== undefined) query = query.where('source', '=', filter.source);
    if (filter.status !== undefined) {
      const statuses = Array.isArray(filter.status) ? filter.status : [filter.status];
      query = query.where('status', 'in', statuses);
    }
    if (filter.dueBefore !== undefined) query = query.where('due_at', '<=', iso(filter.dueBefore));
    query = query.orderBy('due_at').orderBy('id');
    if (filter.limit !== undefined) query = query.limit(filter.limit);
    return query;
  };

  const statusesOne = async (o: string, p: string): Promise<DeliveryStatus[]> => {
    const rows = await db
      .selectFrom('deliveries')
      .select('status')
      .where('organisation_id', '=', o)
      .where('post_id', '=', p)
      .execute();
    return rows.map((r) => r.status as DeliveryStatus);
  };
  // On PostgreSQL's pool, the reads of the crisis deliveries finishing while one is under way go
  // together in the next (every crisis delivery asks whether its post is done everywhere).
  const statusesMany =
    dialect === 'postgres' && ctx.batch
      ? batchOneAtATime(async (keys: { o: string; p: string }[]) => {
          const { rows } = await sql<{ n: number; status: string }>`${prepared('post-statuses')}
            select i.n, d.status from json_to_recordset(${JSON.stringify(keys.map((key, n) => ({ ...key, n })))}::json)
              as i("o" text, "p" text, "n" integer)
            join deliveries d on d.organisation_id = i."o" and d.post_id = i."p"`.execute(db);
          const statuses: DeliveryStatus[][] = keys.map(() => []);
          for (const row of rows) statuses[row.n]!.push(row.status as DeliveryStatus);
          return statuses;
        })
      : undefined;

  /** New deliveries with their parts, in a few multi-row statements. */
  const insertDeliveries = (ds: readonly NewDelivery[]): Promise<Delivery[]> =>
    ds.length === 0
      ? Promise.resolve([])
      : atomic(async (q) => {
          const { rows, parts } = deliveryRows(ds, iso(now()));
          await insertInChunks(q, dialect, 'deliveries', rows);
          await insertInChunks(q, dialect, 'delivery_parts', parts);
          return deliveriesOf(rows, parts);
        });

  return {
    async insert(d) {
      const [one] = await insertDeliveries([d]);
      return one!;
    },
    insertMany: (ds) => insertDeliveries(ds),
    get: (id) => getDelivery(db, id),
    async list(filter: DeliveryFilter) {
      return withParts(db, await filteredDeliveries(filter).selectAll().execute());
    },
    async listHeads(filter: DeliveryFilter) {
      const rows = await filteredDeliveries(filter)
        .select(HEAD_COLUMNS.map((c) => `deliveries.${c}` as const))
        .select((eb) =>
          eb
            .selectFrom('delivery_parts')
            .select(eb.fn.countAll<string | number>().as('n'))
            .whereRef('delivery_parts.delivery_id', '=', 'deliveries.id')
            .as('part_count'),
        )
        .select((eb) =>
          eb
            .selectFrom('delivery_parts')
            .select(eb.fn.countAll<string | number>().as('n'))
            .whereRef('delivery_parts.delivery_id', '=', 'deliveries.id')
            .where('delivery_parts.remote_id', 'is not', null)
            .as('landed_count'),
        )
        .select((eb) =>
          eb
            .selectFrom('delivery_parts')
            .select(eb.fn.countAll<string | number>().as('n'))
            .whereRef('delivery_parts.delivery_id', '=', 'deliveries.id')
            .where('delivery_parts.remote_id', 'is', null)
            .where('delivery_parts.outcome_unknown', '=', 1)
            .as('unknown_count'),
        )
        .execute();
      return rows.map(headFromRow);
    },
    statusesOfPost: (organisationId, postId) =>
      statusesMany ? statusesMany({ o: organisationId, p: postId }) : statusesOne(organisationId, postId),
    async retryLater(id, lastError, epoch) {
      await db
        .updateTable('deliveries')
        .set({
          status: 'queued',
          last_error: lastError,
          updated_at: iso(now()),
          // Let go at once: the next attempt need not wait for the lease to run out.
          lease_owner: null,
          lease_until: null,
        })
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'sending'])
        .$if(epoch !== undefined, (w) => w.where('lease_epoch', '=', epoch!))
        .execute();
    },
    async cancel(id) {
      const res = await db
        .updateTable('deliveries')
        .set({ status: 'cancelled', updated_at: iso(now()) })
        .where('id', '=', id)
        .where('status', '=', 'queued')
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
    cancelMany(ids) {
      if (ids.length === 0) return Promise.resolve([]);
      return atomic(async (q) => {
        const t = iso(now());
        const cancelled: string[] = [];
        for (let i = 0; i < ids.length; i += CHUNK) {
          const rows = await q
            .updateTable('deliveries')
            .set({ status: 'cancelled', updated_at: t })
            .where('id', 'in', ids.slice(i, i + CHUNK))
            .where(checkedOnTheRow(sql`status = 'queued'`))
            .returning('id')
            .execute();
          cancelled.push(...rows.map((r) => r.id));
        }
        return cancelled;
      });
    },
    async countByStatus() {
      const rows = await db
        .selectFrom('deliveries')
        .select(['network', 'status', (eb) => eb.fn.countAll<string | number>().as('n')])
        .groupBy(['network', 'status'])
        .execute();
      return rows.map((r) => ({
        network: r.network as Network,
        status: r.status as DeliveryStatus,
        count: Number(r.n),
      }));
    },
    async publishedSince(since) {
      const rows = await db
        .selectFrom('deliveries')
        .innerJoin('delivery_parts', 'delivery_parts.delivery_id', 'deliveries.id')
        .select([
          'deliveries.network',
          'deliveries.source',
          'deliveries.created_at',
          'deliveries.due_at',
          'delivery_parts.published_at',
        ])
        .where('delivery_parts.part', '=', 1)
        .where('delivery_parts.published_at', '>=', iso(since))
        .execute();
      return rows.map((r) => ({
        network: r.network as Network,
        source: r.source as PostSource,
        createdAt: new Date(r.created_at),
        dueAt: new Date(r.due_at),
        publishedAt: new Date(r.published_at ?? r.due_at),
      }));
    },
    async setJob(id, jobId, status) {
      await db
        .updateTable('deliveries')
        .set({
          job_id: jobId,
          updated_at: iso(now()),
          // Queued again by a person after it finished: no worker holds it, so no lease waits.
          ...(status ? { status, lease_owner: null, lease_until: null } : {}),
        })
        .where('id', '=', id)
        .execute();
    },
  };
}

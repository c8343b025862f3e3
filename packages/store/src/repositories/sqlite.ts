/**
 * The delivery methods whose statements differ by dialect, as SQLite runs them: in process, with
 * one writer, a few short statements cost less than one clever one.
 */
import { sql } from 'kysely';
import { iso, type RepoContext } from './context.ts';
import { finishStatements, type DialectDeliveries } from './finish.ts';
import { leaseEnd, partOutcomeUnknown, renewLease } from './leases.ts';
import { withParts, withReplyTo } from './rows.ts';

export function sqliteDeliveries(ctx: RepoContext): DialectDeliveries {
  const { db, atomic, now } = ctx;
  const renew = renewLease(ctx);
  return {
    async claim(id, jobId, lease) {
      // One statement takes it and its lease (atomic on its own): a claimed delivery is
      // "sending", and no second claim gets it while the lease holds. Its parts and the post its
      // post answers are read next, in process.
      const at = now();
      const row = await db
        .updateTable('deliveries')
        .set((eb) => ({
          status: 'sending',
          attempts: eb('attempts', '+', 1),
          updated_at: iso(at),
          lease_owner: lease.owner,
          lease_epoch: sql<number>`coalesce(lease_epoch, 0) + 1`,
          lease_until: iso(leaseEnd(at, lease)),
        }))
        .where('id', '=', id)
        .where('job_id', '=', jobId)
        .where('status', 'in', ['queued', 'sending'])
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', iso(at))]))
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      const [claimed] = await withParts(db, [row]);
      const post =
        row.post_id === null
          ? undefined
          : await db
              .selectFrom('posts')
              .select('reply_to_post_id')
              .where('organisation_id', '=', row.organisation_id)
              .where('id', '=', row.post_id)
              .executeTakeFirst();
      return withReplyTo(claimed!, row, post?.reply_to_post_id ?? null);
    },
    partOutcomeUnknown: partOutcomeUnknown(ctx),
    // SQLite lives on this host: the process clock is the store's clock (Store.clock).
    renewLeaseForSend: async (id, epoch, ttlMs) => ((await renew(id, epoch, ttlMs)) ? new Date() : undefined),
    finish(id, status, details) {
      const { landed, setPart, setDelivery, missing } = finishStatements(ctx, id, status, details);
      return atomic(async (q) => {
        if (landed) await setPart(q, landed).execute();
        const row = await setDelivery(q).executeTakeFirst();
        if (!row) throw await missing(q);
        const [d] = await withParts(q, [row]);
        return d!;
      });
    },
  };
}

/**
 * A delivery's lease: who may send it now. A claim takes it, a renewal extends it, and every
 * write of a part may name its epoch, so that a holder cut off past its lease changes nothing.
 */
import { sql } from 'kysely';
import { SunsetError } from '@sunset/core';
import type { DeliveryStatus, Repositories } from '../types.ts';
import { iso, text, type RepoContext } from './context.ts';
import { leaseOfRow } from './rows.ts';

/**
 * A write named a lease epoch that is no longer the delivery's latest: another claim took the
 * delivery since (this holder was paused or cut off past its lease). Nothing was changed; the
 * holder stops.
 */
export class LeaseLostError extends SunsetError {
  constructor(deliveryId: string, epoch: number) {
    super('store.lease-lost', `delivery ${deliveryId}: lease ${epoch} was taken over by a later claim`);
  }
}

/** When a lease taken or renewed at `at` ends. */
export const leaseEnd = (at: Date, lease: { ttlMs: number }) =>
  new Date(at.getTime() + Math.max(0, lease.ttlMs));

/** A part's row may change only while the delivery's latest lease has this epoch. */
export const underLease = (deliveryId: string, epoch: number) =>
  sql<boolean>`exists (select 1 from deliveries l where l.id = ${deliveryId} and l.lease_epoch = ${epoch})`;

/** The lease's read, its renewal and a part's landing under it: the same statements in both dialects. */
export function leaseMethods({
  db,
  atomic,
  now,
}: RepoContext): Pick<Repositories['deliveries'], 'leaseOf' | 'renewLease' | 'partPublished'> {
  return {
    async leaseOf(id) {
      const row = await db
        .selectFrom('deliveries')
        .select(['status', 'job_id', 'lease_owner', 'lease_epoch', 'lease_until'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) return undefined;
      const lease = leaseOfRow(row);
      return { status: row.status as DeliveryStatus, jobId: row.job_id, ...(lease ? { lease } : {}) };
    },
    renewLease: renewLease({ db, now }),
    partPublished(id, part, ref, epoch) {
      return atomic(async (q) => {
        const t = iso(now());
        // The part and the delivery's first-part fields under the lease, checked on the delivery.
        const res = await q
          .updateTable('delivery_parts')
          .set((eb) => ({
            remote_id: ref.remoteId,
            url: ref.url,
            remote_ref: text(ref.remoteRef),
            published_at: t,
            outcome_unknown: 0,
            // Found on X with the text sent before a re-apply: that is the text X shows.
            text: eb.fn.coalesce('unknown_text', 'text'),
            unknown_text: null,
            unknown_since: null,
          }))
          .where('delivery_id', '=', id)
          .where('part', '=', part)
          .$if(epoch !== undefined, (w) => w.where(underLease(id, epoch!)))
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) return false;
        if (part === 1) {
          await q
            .updateTable('deliveries')
            .set({ remote_id: ref.remoteId, url: ref.url, updated_at: t })
            .where('id', '=', id)
            .execute();
        }
        return true;
      });
    },
  };
}

/** The lease's renewal in one statement of its own (both dialects; PostgreSQL also batches it). */
export function renewLease({
  db,
  now,
}: Pick<RepoContext, 'db' | 'now'>): Repositories['deliveries']['renewLease'] {
  return async (id, epoch, ttlMs) => {
    const res = await db
      .updateTable('deliveries')
      .set({ lease_until: iso(leaseEnd(now(), { ttlMs })) })
      .where('id', '=', id)
      .where('lease_epoch', '=', epoch)
      .where('status', '=', 'sending')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  };
}

/**
 * One part's outcome-unknown mark, in one statement of its own (SQLite; PostgreSQL inside a
 * transaction, where there is nothing to batch it with).
 */
export function partOutcomeUnknown({ db }: RepoContext): Repositories['deliveries']['partOutcomeUnknown'] {
  return async (id, part, unknown, epoch) => {
    await db
      .updateTable('delivery_parts')
      .set({ outcome_unknown: unknown ? 1 : 0, unknown_text: null, unknown_since: null })
      .where('delivery_id', '=', id)
      .where('part', '=', part)
      .$if(epoch !== undefined, (w) => w.where(underLease(id, epoch!)))
      .execute();
  };
}

/** A delivery's final status: the statements both dialects build it from. */
import type { Kysely, QueryCreator } from 'kysely';
import type { Database } from '../schema.ts';
import type { DeliveryStatus, Repositories } from '../types.ts';
import { iso, text, type RepoContext } from './context.ts';
import { LeaseLostError, underLease } from './leases.ts';
import { getDelivery } from './rows.ts';

/** The delivery methods whose statements differ by dialect (sqlite.ts, postgres/deliveries.ts). */
export type DialectDeliveries = Pick<
  Repositories['deliveries'],
  'claim' | 'partOutcomeUnknown' | 'finish' | 'renewLeaseForSend'
>;

/** What a finish changes, as the statements below and `finish` write it. */
export interface FinishDetails {
  /** Only under this lease (see `deliveries.finish`). */
  epoch?: number;
  lastError?: string;
  checklist?: string[];
  landed?: { part: number; remoteId: string; url: string; remoteRef?: unknown };
}

/**
 * The landed part's update and the delivery's (returning its row), and the error to throw when
 * the delivery's update changed nothing.
 */
export function finishStatements(
  { now }: RepoContext,
  id: string,
  status: DeliveryStatus,
  details: FinishDetails | undefined,
) {
  const t = iso(now());
  const landed = details?.landed;
  const epoch = details?.epoch;
  const setPart = (q: QueryCreator<Database>, l: NonNullable<typeof landed>) =>
    q
      .updateTable('delivery_parts')
      .set({
        remote_id: l.remoteId,
        url: l.url,
        remote_ref: text(l.remoteRef),
        published_at: t,
        outcome_unknown: 0,
      })
      .where('delivery_id', '=', id)
      .where('part', '=', l.part)
      .$if(epoch !== undefined, (w) => w.where(underLease(id, epoch!)));
  const setDelivery = (q: QueryCreator<Database>) =>
    q
      .updateTable('deliveries')
      .set({
        status,
        updated_at: t,
        ...(landed?.part === 1 ? { remote_id: landed.remoteId, url: landed.url } : {}),
        ...(details?.lastError !== undefined ? { last_error: details.lastError } : {}),
        ...(details?.checklist !== undefined ? { checklist: JSON.stringify(details.checklist) } : {}),
      })
      .where('id', '=', id)
      .$if(epoch !== undefined, (w) => w.where('lease_epoch', '=', epoch!))
      .returningAll();
  // Nothing finished: the delivery is gone, or (with an epoch) its lease was taken over.
  const missing = async (q: Kysely<Database>) => {
    if (epoch !== undefined && (await getDelivery(q, id))) return new LeaseLostError(id, epoch);
    return new Error(`no delivery ${id}`);
  };
  return { landed, setPart, setDelivery, missing };
}

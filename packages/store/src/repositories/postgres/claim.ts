/** PostgreSQL: claims and outcome-unknown marks of several jobs, each kind in one statement. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, DeliveriesTable } from '../../schema.ts';
import type { ClaimedDelivery, LeaseRequest } from '../../types.ts';
import { checkedOnTheRow, iso } from '../context.ts';
import { leaseEnd } from '../leases.ts';
import { deliveryFromRow, partsFromJson, withReplyTo } from '../rows.ts';
import { amongIds, partsJson, prepared } from './sql.ts';

/** One claim: the delivery, the job that claims it and the lease it asks for. */
export interface ClaimRequest {
  id: string;
  jobId: string;
  lease: LeaseRequest;
}

/**
 * PostgreSQL: claims for several jobs in one statement (see `deliveries.claim`), each with its
 * delivery's parts and the post its post answers. Each claim gets its delivery or undefined; of
 * two claims for the same job in one batch only the first can win.
 */
export async function claimMany(
  db: Kysely<Database>,
  claims: readonly ClaimRequest[],
  at: Date,
): Promise<(ClaimedDelivery | undefined)[]> {
  // A second claim of the same delivery in one batch waits for the next statement: it meets the
  // first one's lease, as it would have on its own.
  const seen = new Set<string>();
  const now: { id: string; jobId: string; owner: string; until: string }[] = [];
  const later: number[] = [];
  claims.forEach((c, i) => {
    if (seen.has(c.id)) later.push(i);
    else {
      seen.add(c.id);
      now.push({ id: c.id, jobId: c.jobId, owner: c.lease.owner, until: iso(leaseEnd(at, c.lease)) });
    }
  });
  // `marked` is the part this claim marked, if any (the statement's reads all see the rows as they
  // were before it, so the parts come unmarked and the mark is added to the copy below).
  const result = await sql<
    Selectable<DeliveriesTable> & { parts_json: unknown; reply_to: string | null; marked_part: number | null }
  >`${prepared('claim')}
    with input as (select * from json_to_recordset(${JSON.stringify(now)}::json)
      as x("id" text, "jobId" text, "owner" text, "until" text)),
    claimed as (update deliveries d set status = 'sending', attempts = d.attempts + 1, updated_at = ${iso(at)},
        lease_owner = i."owner", lease_epoch = coalesce(d.lease_epoch, 0) + 1, lease_until = i."until"
      from input i where ${amongIds(sql`d.id`, now)} and d.id = i."id" and d.job_id = i."jobId"
        and ${checkedOnTheRow(sql`d.status in ('queued', 'sending') and (d.lease_until is null or d.lease_until <= ${iso(at)})`)}
      returning d.*),
    marked as (update delivery_parts p set outcome_unknown = 1
      from claimed c
      where c.network = 'x' and c.kind = 'post' and p.delivery_id = c.id and p.outcome_unknown = 0
        and p.part = (select min(q.part) from delivery_parts q where q.delivery_id = c.id and q.remote_id is null)
      returning p.delivery_id, p.part)
    select claimed.*, ${partsJson(sql`claimed.id`)} as parts_json,
      (select p.reply_to_post_id from posts p
        where p.organisation_id = claimed.organisation_id and p.id = claimed.post_id) as reply_to,
      (select m.part from marked m where m.delivery_id = claimed.id) as marked_part
    from claimed`.execute(db);
  const byId = new Map<string, ClaimedDelivery>();
  for (const row of result.rows) {
    const { parts_json, reply_to, marked_part, ...delivery } = row;
    const claimed = withReplyTo(deliveryFromRow(delivery, partsFromJson(parts_json)), delivery, reply_to);
    if (marked_part !== null) {
      claimed.markedPart = marked_part;
      const part = claimed.parts.find((p) => p.part === marked_part);
      if (part) part.outcomeUnknown = true;
    }
    byId.set(row.id, claimed);
  }
  const results = claims.map((c) => {
    const d = byId.get(c.id);
    return d && d.jobId === c.jobId ? d : undefined;
  });
  if (later.length > 0) {
    const again = await claimMany(
      db,
      later.map((i) => claims[i]!),
      at,
    );
    later.forEach((i, k) => (results[i] = again[k]));
  }
  return results;
}

/** PostgreSQL: several parts' outcome-unknown marks set or cleared in one statement. */
export async function markOutcomeMany(
  db: Kysely<Database>,
  marks: readonly { id: string; part: number; unknown: boolean; epoch?: number | undefined }[],
): Promise<void> {
  // The last mark asked for a part is the one that counts.
  const last = new Map<string, { id: string; part: number; unknown: number; epoch: number | null }>();
  for (const m of marks)
    last.set(`${m.id}\n${m.part}`, {
      id: m.id,
      part: m.part,
      unknown: m.unknown ? 1 : 0,
      epoch: m.epoch ?? null,
    });
  const rows = [...last.values()];
  // A mark under a lease taken over since changes nothing (the epoch is checked on the delivery).
  await sql`${prepared('mark')}update delivery_parts p set outcome_unknown = i."unknown",
      unknown_text = null, unknown_since = null
    from json_to_recordset(${JSON.stringify(rows)}::json)
      as i("id" text, "part" integer, "unknown" integer, "epoch" integer)
    where ${amongIds(sql`p.delivery_id`, rows)} and p.delivery_id = i."id" and p.part = i."part"
      and (i."epoch" is null or exists (select 1 from deliveries d
        where d.id = i."id" and d.lease_epoch = i."epoch"))`.execute(db);
}

/** One lease renewal before a send: the delivery, the lease's epoch and its new end. */
export interface RenewRequest {
  id: string;
  epoch: number;
  until: string;
}

/**
 * PostgreSQL: leases of several deliveries renewed in one statement (see
 * `deliveries.renewLeaseForSend`), each with the database's clock right after its row was
 * updated, or undefined when that lease is no longer the delivery's latest.
 */
export async function renewForSendMany(
  db: Kysely<Database>,
  renewals: readonly RenewRequest[],
): Promise<(Date | undefined)[]> {
  // Two renewals of the same lease in one batch (the keeper's and the send's) update the row once.
  const result = await sql<{ id: string; epoch: number; now: Date | string }>`${prepared('renew')}
    update deliveries d set lease_until = i."until"
    from json_to_recordset(${JSON.stringify(renewals)}::json) as i("id" text, "epoch" integer, "until" text)
    where ${amongIds(sql`d.id`, renewals)} and d.id = i."id" and d.lease_epoch = i."epoch"
      and ${checkedOnTheRow(sql`d.status = 'sending'`)}
    returning d.id, d.lease_epoch as epoch, clock_timestamp() as now`.execute(db);
  const renewed = new Map<string, Date>();
  for (const row of result.rows)
    renewed.set(`${row.id}\n${row.epoch}`, row.now instanceof Date ? row.now : new Date(row.now));
  return renewals.map((r) => renewed.get(`${r.id}\n${r.epoch}`));
}

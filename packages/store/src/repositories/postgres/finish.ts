/**
 * PostgreSQL: deliveries' final statuses with their audit entries, several in one statement
 * (Store.finishDelivery, batched in open.ts).
 */
import { sql, type Kysely } from 'kysely';
import { auditToRow, jsonSafe } from '../../audit.ts';
import { jsonCarries } from '../../bulk-insert.ts';
import type { Database } from '../../schema.ts';
import type { AuditInput, Delivery, DeliveryFields, DeliveryPart, DeliveryStatus } from '../../types.ts';
import { cleanAudit, hashOnto, type KnownHead } from '../audit.ts';
import { iso, ROWS_PER_INSERT, text } from '../context.ts';
import type { FinishDetails } from '../finish.ts';
import { amongIds, prepared } from './sql.ts';

/** The delivery as `finish` will leave it, worked out from the delivery as it is now. */
function finishedView(
  delivery: Delivery,
  status: DeliveryStatus,
  details: FinishDetails,
  at: Date,
): Delivery {
  const { landed } = details;
  const parts = delivery.parts.map((p): DeliveryPart => {
    if (p.part !== landed?.part) return p;
    const part: DeliveryPart = { ...p, remoteId: landed.remoteId, url: landed.url, publishedAt: at };
    part.outcomeUnknown = false;
    if (landed.remoteRef !== undefined) part.remoteRef = jsonSafe(landed.remoteRef);
    else delete part.remoteRef;
    return part;
  });
  const done: DeliveryFields & { kind: Delivery['kind']; payload?: unknown } = {
    id: delivery.id,
    organisationId: delivery.organisationId,
    actionKey: delivery.actionKey,
    kind: delivery.kind,
    source: delivery.source,
    network: delivery.network,
    dueAt: delivery.dueAt,
    priority: delivery.priority,
    contentHash: delivery.contentHash,
    parts,
    status,
    attempts: delivery.attempts,
    jobId: delivery.jobId,
    createdAt: delivery.createdAt,
    updatedAt: at,
  };
  const keep = <K extends keyof typeof done>(key: K, value: (typeof done)[K] | undefined) => {
    if (value !== undefined) done[key] = value;
  };
  keep('postId', delivery.postId);
  keep('planVersion', delivery.planVersion);
  keep('payload', delivery.payload);
  keep('lastError', details.lastError ?? delivery.lastError);
  keep('checklist', details.checklist ?? delivery.checklist);
  keep('remoteId', landed?.part === 1 ? landed.remoteId : delivery.remoteId);
  keep('url', landed?.part === 1 ? landed.url : delivery.url);
  // Its kind and payload are the delivery's own, which were checked together when it was read.
  return done as Delivery;
}

/** The landed state of a delivery's parts in one string, the same in SQL (below) and here. */
const partsKey = (parts: readonly DeliveryPart[]) =>
  [...parts]
    .sort((a, b) => a.part - b.part)
    .map((p) => `${p.remoteId ?? ''} ${p.url ?? ''}`)
    .join('\n');

/** One delivery to finish, with the audit entry that records it (see finishInOneStatement). */
export interface FinishRequest {
  delivery: Delivery;
  status: DeliveryStatus;
  details: FinishDetails;
  audit: (done: Delivery) => AuditInput;
}

/**
 * PostgreSQL: the final status of several deliveries and their audit entries in one statement,
 * without a transaction around it (a statement is atomic on its own). Everything is worked out
 * beforehand from each delivery as its job knows it, and the statement checks that knowledge:
 * each delivery must still have that status, job, remote id and landed parts, and the chain
 * head must still be the one this process knows. Otherwise nothing at all is changed and
 * undefined comes back: the callers then do the same in transactions, from what the database
 * holds. When a delivery was changed the head does not move, and when the head does not move
 * the division by zero in the last line undoes the whole statement (the updates before it too).
 */
export async function finishInOneStatement(
  db: Kysely<Database>,
  known: KnownHead,
  requests: readonly FinishRequest[],
  at: Date,
): Promise<Delivery[] | undefined> {
  const head = known.current;
  if (!head || requests.length === 0 || requests.length > ROWS_PER_INSERT) return undefined;
  const done = requests.map((r) => finishedView(r.delivery, r.status, r.details, at));
  const entries = hashOnto(
    head,
    requests.map((r, i) => ({ input: cleanAudit(r.audit(done[i]!)), at })),
  );
  const last = entries[entries.length - 1]!;
  const rows = requests.map(({ delivery: d, status, details }) => {
    const { landed } = details;
    return {
      id: d.id,
      status,
      expect_status: d.status,
      job_id: d.jobId,
      expect_remote_id: d.remoteId ?? null,
      parts_key: partsKey(d.parts),
      set_remote: landed?.part === 1,
      remote_id: landed?.part === 1 ? landed.remoteId : null,
      url: landed?.part === 1 ? landed.url : null,
      set_error: details.lastError !== undefined,
      last_error: details.lastError ?? null,
      set_checklist: details.checklist !== undefined,
      checklist: details.checklist !== undefined ? JSON.stringify(details.checklist) : null,
      part: landed?.part ?? null,
      part_remote_id: landed?.remoteId ?? null,
      part_url: landed?.url ?? null,
      part_remote_ref: landed ? text(landed.remoteRef) : null,
      expect_epoch: details.epoch ?? null,
    };
  });
  const auditRows = entries.map(auditToRow);
  // Text JSON cannot carry exactly (a lone surrogate): the transaction's bound parameters instead.
  const wellFormed = (row: object) =>
    Object.values(row).every((v) => typeof v !== 'string' || v.isWellFormed());
  if (!jsonCarries(auditRows) || !rows.every(wellFormed)) return undefined;
  const t = iso(at);
  try {
    const result = await sql`${prepared('finish')}with input as (
        select * from json_to_recordset(${JSON.stringify(rows)}::json) as x(
          id text, status text, expect_status text, job_id text, expect_remote_id text, parts_key text,
          set_remote boolean, remote_id text, url text, set_error boolean, last_error text,
          set_checklist boolean, checklist text, part integer, part_remote_id text, part_url text,
          part_remote_ref text, expect_epoch integer)),
      landed as (update delivery_parts p set remote_id = i.part_remote_id, url = i.part_url,
          remote_ref = i.part_remote_ref, published_at = ${t}, outcome_unknown = 0
        from input i where ${amongIds(sql`p.delivery_id`, rows)} and i.part is not null
          and p.delivery_id = i.id and p.part = i.part
        returning 1),
      done as (update deliveries d set status = i.status, updated_at = ${t},
          remote_id = case when i.set_remote then i.remote_id else d.remote_id end,
          url = case when i.set_remote then i.url else d.url end,
          last_error = case when i.set_error then i.last_error else d.last_error end,
          checklist = case when i.set_checklist then i.checklist else d.checklist end
        from input i
        where d.id = i.id and d.status = i.expect_status and d.job_id = i.job_id
          and (i.expect_epoch is null or d.lease_epoch = i.expect_epoch)
          and d.remote_id is not distinct from i.expect_remote_id
          and (select coalesce(string_agg(coalesce(q.remote_id, '') || ' ' || coalesce(q.url, ''), chr(10)
                 order by q.part), '') from delivery_parts q where q.delivery_id = i.id) = i.parts_key
        returning 1),
      moved as (update audit_head set seq = ${last.seq}, hash = ${last.hash}
        where id = 1 and seq = ${head.seq} and hash = ${head.hash}
          and (select count(*) from done) = ${requests.length}
        returning 1)
      insert into audit_log
      select r.* from json_populate_recordset(null::audit_log, ${JSON.stringify(auditRows)}::json) r
      where 1 / (select count(*)::int from moved) = 1`.execute(db);
    if (Number(result.numAffectedRows ?? 0) !== requests.length) return undefined;
  } catch (err) {
    // division_by_zero: a delivery or the head was not as known; anything else is a real error.
    if ((err as { code?: string }).code === '22012') return undefined;
    throw err;
  }
  known.current = { seq: last.seq, hash: last.hash };
  return done;
}

/**
 * The repositories over one Kysely handle: the pool (each call its own statement or short
 * transaction) or a transaction's connection (every call inside it).
 */
import {
  sql,
  type Insertable,
  type Kysely,
  type QueryCreator,
  type RawBuilder,
  type Selectable,
} from 'kysely';
import { SunsetError, type Network } from '@sunset/core';
import { readAuditHead } from '../audit-head.ts';
import { auditBody, auditFromRow, auditHash, auditToRow, jsonSafe } from '../audit.ts';
import { insertJsonRows, insertJsonTables, jsonCarries, jsonInsert } from '../bulk-insert.ts';
import type { Database, DeliveriesTable, DeliveryPartsTable } from '../schema.ts';
import type {
  ApiToken,
  ClaimedDelivery,
  AppliedPlan,
  AuditEntry,
  AuditInput,
  Delivery,
  DeliveryFilter,
  DeliveryHead,
  DeliveryImage,
  DeliveryPart,
  DeliveryLease,
  DeliveryStatus,
  Dialect,
  LeaseRequest,
  NewDelivery,
  Post,
  PostSource,
  ProfileSnapshot,
  Repositories,
  TokenRole,
} from '../types.ts';

export interface RepoContext {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Runs fn in a transaction, or directly when `db` is already one. */
  atomic<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  now(): Date;
  /**
   * Inside a group transaction (open.ts): where audit entries wait to be chained. The group
   * writes them all at its end, under the chain head's lock, just before it commits.
   */
  auditSink?: (entry: PendingAudit) => void;
  /** The store's view of the chain head (see chainAudit). */
  knownHead?: KnownHead;
}

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

/** The lease columns of a claimed row, as the claim set them. */
function leaseOfRow(row: Pick<Selectable<DeliveriesTable>, 'lease_owner' | 'lease_epoch' | 'lease_until'>) {
  if (row.lease_owner === null || row.lease_epoch === null || row.lease_until === null) return undefined;
  const lease: DeliveryLease = {
    owner: row.lease_owner,
    epoch: Number(row.lease_epoch),
    until: new Date(row.lease_until),
  };
  return lease;
}

/** An audit entry as asked for: cleaned, timed, not yet given its place in the chain. */
export interface PendingAudit {
  input: AuditInput;
  at: Date;
}

/** Unset fields dropped; JSON fields as they will read back (Dates become strings). */
function cleanAudit(input: AuditInput): AuditInput {
  const clean: AuditInput = { ...input };
  for (const key of ['before', 'after', 'details'] as const) {
    if (clean[key] === undefined) delete clean[key];
    else clean[key] = jsonSafe(clean[key]);
  }
  for (const key of Object.keys(clean) as (keyof AuditInput)[]) {
    const value = clean[key];
    if (value === undefined) delete clean[key];
    // A lone surrogate reaches the database as U+FFFD: hashed as it will be stored.
    else if (typeof value === 'string' && !value.isWellFormed()) {
      (clean as unknown as Record<string, unknown>)[key] = value.toWellFormed();
    }
  }
  return clean;
}

/** Rows per multi-row insert: well under both databases' limits on bound parameters. */
const ROWS_PER_INSERT = 200;

async function insertInChunks<T extends keyof Database & string>(
  q: Kysely<Database>,
  dialect: Dialect,
  table: T,
  rows: readonly Insertable<Database[T]>[],
): Promise<void> {
  if (dialect === 'postgres' && rows.length > 1 && jsonCarries(rows)) return insertJsonRows(q, table, rows);
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    await q
      .insertInto(table)
      .values(rows.slice(i, i + ROWS_PER_INSERT))
      .execute();
  }
}

/** The chain head as this process last wrote or read it; a guess, checked by every write. */
export interface KnownHead {
  current?: { seq: number; hash: string };
}

function hashOnto(head: { seq: number; hash: string }, entries: readonly PendingAudit[]): AuditEntry[] {
  let { seq, hash: prevHash } = head;
  return entries.map(({ input, at }) => {
    seq += 1;
    const hash = auditHash(prevHash, auditBody({ ...input, seq, at }));
    const entry: AuditEntry = { ...input, seq, at, prevHash, hash };
    prevHash = hash;
    return entry;
  });
}

/**
 * Puts entries at the end of the chain, in order, each hashed onto the one before. `q` must be
 * a transaction: the entries and the head commit together or not at all.
 *
 * PostgreSQL, when this process knows the head (`known`): one statement moves the head from
 * the known seq and hash to the last new entry's, and inserts the entries only if that move
 * happened. The move locks the head row until commit, exactly as the locking read does; if
 * another writer moved the head since (another process, or a transaction that rolled back),
 * nothing is written and the slow way follows. The slow way (SQLite always; PostgreSQL without
 * a known head or after a miss): read the head (locked until commit on PostgreSQL; SQLite's
 * write lock is already held by `begin immediate`), insert in a few multi-row statements, move
 * the head. Either way the head read or moved is remembered for the next write.
 */
export async function chainAudit(
  q: Kysely<Database>,
  dialect: Dialect,
  entries: readonly PendingAudit[],
  known: KnownHead = {},
): Promise<void> {
  if (entries.length === 0) return;
  const guess = known.current;
  const fast = dialect === 'postgres' && guess && entries.length <= ROWS_PER_INSERT;
  const guessed = fast ? hashOnto(guess, entries) : [];
  const guessedRows = guessed.map(auditToRow);
  // Rows JSON cannot carry exactly (a lone surrogate) take the slow way's bound parameters.
  if (fast && jsonCarries(guessedRows)) {
    if (await appendOnKnownHead(q, known, guess, guessed, guessedRows, [], 'audit-chain')) return;
  }
  const written = hashOnto(await readAuditHead(q, dialect === 'postgres'), entries);
  const last = written[written.length - 1]!;
  await insertInChunks(q, dialect, 'audit_log', written.map(auditToRow));
  await q.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where('id', '=', 1).execute();
  known.current = { seq: last.seq, hash: last.hash };
}

/**
 * PostgreSQL: entries hashed onto the known head `from` (`rows` are theirs, as auditToRow writes
 * them), with rows of other tables beside them, in one statement that moves the head from `from`
 * to the last entry and inserts everything only if it moved. Whether it moved. The known head is
 * set to the last entry at once: the next writer of this process chains onto these entries, its
 * statement waiting for this one's lock on the head; on a miss or an error it is taken back.
 */
async function appendOnKnownHead(
  q: Kysely<Database>,
  known: KnownHead,
  from: { seq: number; hash: string },
  entries: readonly AuditEntry[],
  rows: readonly object[],
  tables: readonly (readonly [keyof Database & string, readonly object[]])[],
  statement: string,
): Promise<boolean> {
  const last = entries[entries.length - 1]!;
  const withs = [
    sql`moved as (update audit_head set seq = ${last.seq}, hash = ${last.hash}
      where id = 1 and seq = ${from.seq} and hash = ${from.hash} returning 1)`,
    ...tables.map(([table, r], i) => sql`${sql.raw(`w${i}`)} as (${jsonInsert(table, r, 'moved')})`),
  ];
  const mine = { seq: last.seq, hash: last.hash };
  known.current = mine;
  let moved = false;
  try {
    const result =
      await sql`${prepared(statement)}with ${sql.join(withs)} ${jsonInsert('audit_log', rows, 'moved')}`.execute(
        q,
      );
    moved = Number(result.numAffectedRows ?? 0) === entries.length;
  } finally {
    if (!moved && known.current === mine) known.current = undefined;
  }
  return moved;
}

/** What a finish changes, as the statements below and `finish` write it. */
export interface FinishDetails {
  /** Only under this lease (see `deliveries.finish`). */
  epoch?: number;
  lastError?: string;
  checklist?: string[];
  landed?: { part: number; remoteId: string; url: string; remoteRef?: unknown };
}

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
  const done: Delivery = {
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
  const keep = <K extends keyof Delivery>(key: K, value: Delivery[K] | undefined) => {
    if (value !== undefined) done[key] = value;
  };
  keep('postId', delivery.postId);
  keep('planVersion', delivery.planVersion);
  keep('payload', delivery.payload);
  keep('lastError', details.lastError ?? delivery.lastError);
  keep('checklist', details.checklist ?? delivery.checklist);
  keep('remoteId', landed?.part === 1 ? landed.remoteId : delivery.remoteId);
  keep('url', landed?.part === 1 ? landed.url : delivery.url);
  return done;
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

/**
 * PostgreSQL: new posts, their deliveries (with parts) and the audit entries that record them in
 * one statement, without a transaction around it (a statement is atomic on its own): what a
 * transaction doing `posts.insertWithDeliveries` and then appending the entries does, in one
 * round trip instead of four (begin, the rows, the entries, commit). The entries are hashed onto
 * the chain head this process knows, and the statement moves the head from it: the rows go in
 * only if the head moved. Undefined when that cannot be done this way (the head unknown or moved
 * by another writer, a value JSON cannot carry, more rows than one statement takes): nothing was
 * written and the caller uses a transaction. Errors of the rows themselves (a post id taken)
 * are thrown, with nothing written.
 */
export async function insertPostsInOneStatement(
  db: Kysely<Database>,
  known: KnownHead,
  posts: readonly Omit<Post, 'createdAt'>[],
  ds: readonly NewDelivery[],
  audits: readonly AuditInput[],
  at: Date,
): Promise<{ posts: Post[]; deliveries: Delivery[] } | undefined> {
  const head = known.current;
  if (!head || audits.length === 0 || audits.length > ROWS_PER_INSERT) return undefined;
  const t = iso(at);
  const { rows, parts } = deliveryRows(ds, t);
  const tables = (
    [
      ['posts', postRows(posts, t)],
      ['deliveries', rows],
      ['delivery_parts', parts],
    ] as const
  ).filter(([, r]) => r.length > 0);
  const entries = hashOnto(
    head,
    audits.map((input) => ({ input: cleanAudit(input), at })),
  );
  const auditRows = entries.map(auditToRow);
  if (!tables.every(([, r]) => jsonCarries(r)) || !jsonCarries(auditRows)) return undefined;
  if (!(await appendOnKnownHead(db, known, head, entries, auditRows, tables, 'insert-posts')))
    return undefined;
  return { posts: posts.map((post) => ({ ...post, createdAt: at })), deliveries: deliveriesOf(rows, parts) };
}

/** One claim: the delivery, the job that claims it and the lease it asks for. */
export interface ClaimRequest {
  id: string;
  jobId: string;
  lease: LeaseRequest;
}

/** When a lease taken or renewed at `at` ends. */
const leaseEnd = (at: Date, lease: { ttlMs: number }) => new Date(at.getTime() + Math.max(0, lease.ttlMs));

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

/**
 * PostgreSQL: marks a statement of the hot path, sent again and again with the same text (its
 * rows travel as JSON parameters), as one to prepare once per connection instead of having
 * PostgreSQL parse it each time (open.ts, PreparingClient). The text must not depend on the
 * values, only on a few shapes at most.
 */
export const prepared = (name: string) => sql.raw(`/* ${PREPARED_MARK}${name} */ `);
export const PREPARED_MARK = 'sunset:prepare:';

/**
 * A status condition for statements that name their deliveries by id: checked on the rows the
 * primary key finds, never used to look rows up (`(…) is true` is no index condition). Right
 * after a plan apply or a burst of crises the table's statistics still count few queued
 * deliveries, and PostgreSQL then went through the status index, reading every queued delivery
 * to keep the few asked for: a claim of 2 deliveries with 10,000 queued took 6.1 ms that way,
 * 0.3 ms by primary key (EXPLAIN ANALYZE on PostgreSQL 15).
 */
const checkedOnTheRow = (condition: RawBuilder<unknown>) => sql<boolean>`(${condition}) is true`;

/**
 * PostgreSQL: `column = any(ids)`, beside a join with a JSON input, so that the planner knows how
 * many rows the statement names (it takes a JSON input for 100): without it a claim of one
 * delivery scanned the whole table while it was small. The claim, the outcome-unknown mark and
 * plan apply's replace use it; the finish does not (with it, PostgreSQL spent ~20 % more CPU per
 * delivery in the throughput benchmark, 64 jobs at once).
 */
const amongIds = (column: RawBuilder<unknown>, rows: readonly { id: string }[]) =>
  sql<boolean>`${column} = any(${rows.map((r) => r.id)}::text[])`;

/** A part's row may change only while the delivery's latest lease has this epoch. */
const underLease = (deliveryId: string, epoch: number) =>
  sql<boolean>`exists (select 1 from deliveries l where l.id = ${deliveryId} and l.lease_epoch = ${epoch})`;

const iso = (d: Date) => d.toISOString();
const text = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const parse = (v: string | null): unknown => (v === null ? undefined : (JSON.parse(v) as unknown));
const CHUNK = 500;

function partFromRow(row: Selectable<DeliveryPartsTable>): DeliveryPart {
  const part: DeliveryPart = {
    part: Number(row.part),
    text: row.text,
    images: JSON.parse(row.images) as DeliveryImage[],
    language: row.language,
    outcomeUnknown: Number(row.outcome_unknown) === 1,
  };
  if (row.unknown_text != null) part.unknownText = row.unknown_text;
  if (row.unknown_since != null) part.unknownSince = new Date(row.unknown_since);
  if (row.remote_id !== null) part.remoteId = row.remote_id;
  if (row.url !== null) part.url = row.url;
  if (row.remote_ref !== null) part.remoteRef = JSON.parse(row.remote_ref) as unknown;
  if (row.published_at !== null) part.publishedAt = new Date(row.published_at);
  return part;
}

const HEAD_COLUMNS = [
  'id',
  'organisation_id',
  'action_key',
  'post_id',
  'kind',
  'source',
  'network',
  'plan_version',
  'due_at',
  'priority',
  'content_hash',
  'status',
  'job_id',
] as const;

/** What a delivery head and a whole delivery read alike from their row. */
function headFields(
  row: Pick<Selectable<DeliveriesTable>, (typeof HEAD_COLUMNS)[number]>,
): Omit<DeliveryHead, 'partCount' | 'landedParts' | 'unknownParts'> {
  const d: Omit<DeliveryHead, 'partCount' | 'landedParts' | 'unknownParts'> = {
    id: row.id,
    organisationId: row.organisation_id,
    actionKey: row.action_key,
    kind: row.kind as Delivery['kind'],
    source: row.source as PostSource,
    network: row.network as Network,
    dueAt: new Date(row.due_at),
    priority: Number(row.priority),
    contentHash: row.content_hash,
    status: row.status as DeliveryStatus,
    jobId: row.job_id,
  };
  if (row.post_id !== null) d.postId = row.post_id;
  if (row.plan_version !== null) d.planVersion = Number(row.plan_version);
  return d;
}

function deliveryFromRow(row: Selectable<DeliveriesTable>, parts: DeliveryPart[]): Delivery {
  const d: Delivery = {
    ...headFields(row),
    parts,
    attempts: Number(row.attempts),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
  if (row.payload !== null) d.payload = JSON.parse(row.payload) as unknown;
  if (row.last_error !== null) d.lastError = row.last_error;
  if (row.checklist !== null) d.checklist = JSON.parse(row.checklist) as string[];
  if (row.remote_id !== null) d.remoteId = row.remote_id;
  if (row.url !== null) d.url = row.url;
  return d;
}

function headFromRow(
  row: Pick<Selectable<DeliveriesTable>, (typeof HEAD_COLUMNS)[number]> & {
    part_count: string | number | bigint | null;
    landed_count: string | number | bigint | null;
    unknown_count: string | number | bigint | null;
  },
): DeliveryHead {
  return {
    ...headFields(row),
    partCount: Number(row.part_count ?? 0),
    landedParts: Number(row.landed_count ?? 0),
    unknownParts: Number(row.unknown_count ?? 0),
  };
}

/** The statuses a plan re-apply may still rewrite. */
const REPLACEABLE: readonly DeliveryStatus[] = ['queued', 'failed', 'cancelled'];

async function withParts(db: Kysely<Database>, rows: Selectable<DeliveriesTable>[]): Promise<Delivery[]> {
  const byId = new Map<string, DeliveryPart[]>(rows.map((r) => [r.id, []]));
  const ids = [...byId.keys()];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const parts = await db
      .selectFrom('delivery_parts')
      .selectAll()
      .where('delivery_id', 'in', ids.slice(i, i + CHUNK))
      .orderBy('delivery_id')
      .orderBy('part')
      .execute();
    for (const p of parts) byId.get(p.delivery_id)?.push(partFromRow(p));
  }
  return rows.map((r) => deliveryFromRow(r, byId.get(r.id) ?? []));
}

/** A subquery: the delivery's parts as one JSON array of rows, in part order (PostgreSQL). */
function partsJson(deliveryId: ReturnType<typeof sql>) {
  return sql<string>`(select coalesce(json_agg(p order by p.part), '[]') from delivery_parts p
    where p.delivery_id = ${deliveryId})`;
}

/** Parts from partsJson (pg hands json over parsed; a string is parsed here). */
function partsFromJson(value: unknown): DeliveryPart[] {
  const rows = (typeof value === 'string' ? JSON.parse(value) : value) as Selectable<DeliveryPartsTable>[];
  return rows.map(partFromRow);
}

function withReplyTo(
  delivery: Delivery,
  row: Pick<Selectable<DeliveriesTable>, 'lease_owner' | 'lease_epoch' | 'lease_until'>,
  replyTo: string | null,
): ClaimedDelivery {
  const lease = leaseOfRow(row);
  if (!lease) throw new Error(`delivery ${delivery.id} was claimed without a lease`);
  return replyTo === null ? { ...delivery, lease } : { ...delivery, replyToPostId: replyTo, lease };
}

function tokenFromRow(row: Selectable<Database['api_tokens']>): ApiToken {
  const t: ApiToken = {
    id: row.id,
    organisationId: row.organisation_id,
    name: row.name,
    person: row.person ?? row.name,
    role: row.role as TokenRole,
    hash: row.hash,
    createdAt: new Date(row.created_at),
    createdBy: row.created_by,
  };
  if (row.last_used_at !== null) t.lastUsedAt = new Date(row.last_used_at);
  if (row.revoked_at !== null) t.revokedAt = new Date(row.revoked_at);
  return t;
}

function planFromRow(row: Selectable<Database['plans']>): AppliedPlan {
  return {
    organisationId: row.organisation_id,
    version: Number(row.version),
    hash: row.hash,
    yaml: row.yaml,
    sourceName: row.source_name,
    appliedAt: new Date(row.applied_at),
    appliedBy: row.applied_by,
    diff: parse(row.diff),
    ...(row.settings !== null ? { settings: parse(row.settings) } : {}),
  };
}

function postFromRow(row: Selectable<Database['posts']>): Post {
  const p: Post = {
    organisationId: row.organisation_id,
    id: row.id,
    source: row.source as PostSource,
    content: JSON.parse(row.content) as unknown,
    createdAt: new Date(row.created_at),
    createdBy: row.created_by,
  };
  if (row.reply_to_post_id !== null) p.replyToPostId = row.reply_to_post_id;
  return p;
}

function snapshotFromRow(row: Selectable<Database['profile_snapshots']>): ProfileSnapshot {
  const s: ProfileSnapshot = {
    id: Number(row.id),
    organisationId: row.organisation_id,
    network: row.network as Network,
    profile: JSON.parse(row.profile) as unknown,
    takenAt: new Date(row.taken_at),
  };
  if (row.delivery_id !== null) s.deliveryId = row.delivery_id;
  return s;
}

/** The rows of new deliveries and their parts, as they will read back. */
function deliveryRows(ds: readonly NewDelivery[], t: string) {
  const rows = ds.map((d): Selectable<DeliveriesTable> => ({
    id: d.id,
    organisation_id: d.organisationId,
    action_key: d.actionKey,
    post_id: d.postId ?? null,
    kind: d.kind,
    source: d.source,
    network: d.network,
    plan_version: d.planVersion ?? null,
    due_at: iso(d.dueAt),
    priority: d.priority,
    content_hash: d.contentHash,
    payload: text(d.payload),
    status: 'queued',
    attempts: 0,
    job_id: d.jobId,
    last_error: null,
    checklist: null,
    remote_id: null,
    url: null,
    created_at: t,
    updated_at: t,
    lease_owner: null,
    lease_epoch: null,
    lease_until: null,
  }));
  const parts = partRows(
    ds.flatMap((d) => d.parts.map((p) => ({ ...p, deliveryId: d.id, organisationId: d.organisationId }))),
  );
  return { rows, parts };
}

/** Built from what was written rather than read back: the same conversion as a read. */
function deliveriesOf(
  rows: readonly Selectable<DeliveriesTable>[],
  parts: readonly Selectable<DeliveryPartsTable>[],
): Delivery[] {
  const byDelivery = new Map<string, DeliveryPart[]>(rows.map((r) => [r.id, []]));
  for (const p of parts) byDelivery.get(p.delivery_id)?.push(partFromRow(p));
  return rows.map((row) =>
    deliveryFromRow(
      row,
      (byDelivery.get(row.id) ?? []).sort((a, b) => a.part - b.part),
    ),
  );
}

/** Rows of new posts, all created at `at`. */
function postRows(posts: readonly Omit<Post, 'createdAt'>[], at: string) {
  return posts.map((post): Insertable<Database['posts']> => ({
    organisation_id: post.organisationId,
    id: post.id,
    source: post.source,
    reply_to_post_id: post.replyToPostId ?? null,
    content: JSON.stringify(post.content ?? null),
    created_at: at,
    created_by: post.createdBy,
  }));
}

export function createRepositories(ctx: RepoContext): Repositories {
  const { db, dialect, atomic, now } = ctx;
  const forUpdate = dialect === 'postgres';

  const getDelivery = async (q: Kysely<Database>, id: string): Promise<Delivery | undefined> => {
    const row = await q.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? (await withParts(q, [row]))[0] : undefined;
  };

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

  const appendAudit = async (input: AuditInput): Promise<void> => {
    const entry: PendingAudit = { input: cleanAudit(input), at: now() };
    if (ctx.auditSink) ctx.auditSink(entry);
    else await atomic((q) => chainAudit(q, dialect, [entry], ctx.knownHead));
  };

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
    organisations: {
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
    },

    plans: {
      async latest(organisationId) {
        const row = await db
          .selectFrom('plans')
          .selectAll()
          .where('organisation_id', '=', organisationId)
          .orderBy('version', 'desc')
          .limit(1)
          .executeTakeFirst();
        return row ? planFromRow(row) : undefined;
      },
      async latestVersion(organisationId) {
        const row = await db
          .selectFrom('plans')
          .select('version')
          .where('organisation_id', '=', organisationId)
          .orderBy('version', 'desc')
          .limit(1)
          .executeTakeFirst();
        return row ? Number(row.version) : undefined;
      },
      async latestHead(organisationId) {
        const row = await db
          .selectFrom('plans')
          .select(['version', 'hash'])
          .where('organisation_id', '=', organisationId)
          .orderBy('version', 'desc')
          .limit(1)
          .executeTakeFirst();
        return row ? { version: Number(row.version), hash: row.hash } : undefined;
      },
      insert(plan) {
        return atomic(async (q) => {
          const last = await q
            .selectFrom('plans')
            .select((eb) => eb.fn.max('version').as('v'))
            .where('organisation_id', '=', plan.organisationId)
            .executeTakeFirst();
          const version = Number(last?.v ?? 0) + 1;
          const appliedAt = now();
          await q
            .insertInto('plans')
            .values({
              organisation_id: plan.organisationId,
              version,
              hash: plan.hash,
              yaml: plan.yaml,
              source_name: plan.sourceName,
              applied_at: iso(appliedAt),
              applied_by: plan.appliedBy,
              diff: text(plan.diff),
              settings: text(plan.settings),
            })
            .execute();
          return { ...plan, version, appliedAt };
        });
      },
      async list(organisationId) {
        const rows = await db
          .selectFrom('plans')
          .selectAll()
          .where('organisation_id', '=', organisationId)
          .orderBy('version')
          .execute();
        return rows.map(planFromRow);
      },
      async setDiff(organisationId, version, diff) {
        await db
          .updateTable('plans')
          .set({ diff: text(diff) })
          .where('organisation_id', '=', organisationId)
          .where('version', '=', version)
          .execute();
      },
    },

    blobs: {
      async put(blob) {
        await db
          .insertInto('blobs')
          .values({
            sha256: blob.sha256,
            media_type: blob.mediaType,
            size: blob.data.byteLength,
            data: blob.data,
          })
          .onConflict((oc) => oc.column('sha256').doNothing())
          .execute();
      },
      async get(sha256) {
        const row = await db.selectFrom('blobs').selectAll().where('sha256', '=', sha256).executeTakeFirst();
        return row
          ? { sha256: row.sha256, mediaType: row.media_type, data: new Uint8Array(row.data) }
          : undefined;
      },
    },

    posts: {
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
    },

    deliveries: {
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
      async claim(id, jobId, lease) {
        // One statement takes it and its lease (atomic on its own): a claimed delivery is
        // "sending", and no second claim gets it while the lease holds. On PostgreSQL the same
        // statement brings its parts and the post its post answers (claimMany); SQLite reads them
        // next, in process.
        const at = now();
        if (dialect === 'postgres') return (await claimMany(db, [{ id, jobId, lease }], at))[0];
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
      async renewLease(id, epoch, ttlMs) {
        const res = await db
          .updateTable('deliveries')
          .set({ lease_until: iso(leaseEnd(now(), { ttlMs })) })
          .where('id', '=', id)
          .where('lease_epoch', '=', epoch)
          .where('status', '=', 'sending')
          .executeTakeFirst();
        return Number(res.numUpdatedRows) > 0;
      },
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
      async partOutcomeUnknown(id, part, unknown, epoch) {
        await db
          .updateTable('delivery_parts')
          .set({ outcome_unknown: unknown ? 1 : 0, unknown_text: null, unknown_since: null })
          .where('delivery_id', '=', id)
          .where('part', '=', part)
          .$if(epoch !== undefined, (w) => w.where(underLease(id, epoch!)))
          .execute();
      },
      finish(id, status, details) {
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
        if (dialect === 'postgres') {
          // One statement: the landed part, the delivery, and its parts as they are now (the
          // statement's own reads see the table as it was before it, so the landed part comes
          // from what its update returned).
          const run = async (q: Kysely<Database>) => {
            const row = landed
              ? await q
                  .with('landed', (w) => setPart(w, landed).returningAll())
                  // The second expression does not read the first: built over the plain schema.
                  .with('done', (w) => setDelivery(w as unknown as QueryCreator<Database>))
                  .selectFrom('done')
                  .selectAll('done')
                  .select(
                    sql<string>`(select coalesce(json_agg(x order by x.part), '[]') from (
                      select * from landed
                      union all
                      select * from delivery_parts p
                      where p.delivery_id = done.id and p.part not in (select part from landed)) x)`.as(
                      'parts_json',
                    ),
                  )
                  .executeTakeFirst()
              : await q
                  .with('done', setDelivery)
                  .selectFrom('done')
                  .selectAll('done')
                  .select(partsJson(sql`done.id`).as('parts_json'))
                  .executeTakeFirst();
            if (!row) throw await missing(q);
            const { parts_json, ...delivery } = row;
            return deliveryFromRow(delivery, partsFromJson(parts_json));
          };
          // Already inside a transaction, or on its own: one statement is atomic either way.
          return run(db);
        }
        return atomic(async (q) => {
          if (landed) await setPart(q, landed).execute();
          const row = await setDelivery(q).executeTakeFirst();
          if (!row) throw await missing(q);
          const [d] = await withParts(q, [row]);
          return d!;
        });
      },
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
      replaceMany(changes) {
        const candidates = changes.filter((c) => REPLACEABLE.includes(c.expected));
        if (candidates.length === 0) return Promise.resolve([]);
        return atomic(async (q) => {
          const t = iso(now());
          const replaced: string[] = [];
          const orgOf = new Map<string, string>();
          // Read before the rows change: the times of the attempt whose outcome is unknown.
          const marked: {
            delivery_id: string;
            part: number;
            text: string;
            unknown_text: string | null;
            unknown_since: string | null;
            due_at: string;
            updated_at: string;
          }[] = [];
          for (let i = 0; i < candidates.length; i += CHUNK) {
            marked.push(
              ...(await q
                .selectFrom('delivery_parts as p')
                .innerJoin('deliveries as d', 'd.id', 'p.delivery_id')
                .select([
                  'p.delivery_id',
                  'p.part',
                  'p.text',
                  'p.unknown_text',
                  'p.unknown_since',
                  'd.due_at',
                  'd.updated_at',
                ])
                .where(
                  'p.delivery_id',
                  'in',
                  candidates.slice(i, i + CHUNK).map((c) => c.id),
                )
                .where('p.outcome_unknown', '=', 1)
                .where('p.remote_id', 'is', null)
                .execute()),
            );
          }
          // One statement per chunk: the new values travel as one JSON parameter, read back as
          // rows, and only rows still in the status the caller read are changed.
          for (let i = 0; i < candidates.length; i += CHUNK) {
            const chunk = candidates.slice(i, i + CHUNK);
            const values = JSON.stringify(
              chunk.map(({ id, expected, change }) => ({
                id,
                expected,
                due_at: iso(change.dueAt),
                priority: change.priority,
                content_hash: change.contentHash,
                payload: text(change.payload),
                job_id: change.jobId,
                plan_version: change.planVersion ?? null,
              })),
            );
            const { rows } = await (
              dialect === 'postgres'
                ? sql<{ id: string; organisation_id: string }>`
                    update deliveries as d set due_at = v.due_at, priority = v.priority,
                      content_hash = v.content_hash, payload = v.payload, job_id = v.job_id,
                      plan_version = v.plan_version, status = 'queued', updated_at = ${t}
                    from json_to_recordset(${values}::json) as v(id text, expected text, due_at text,
                      priority integer, content_hash text, payload text, job_id text, plan_version integer)
                    where ${amongIds(sql`d.id`, chunk)} and d.id = v.id and d.status = v.expected
                    returning d.id, d.organisation_id`
                : sql<{ id: string; organisation_id: string }>`
                    update deliveries set due_at = v.due_at, priority = v.priority,
                      content_hash = v.content_hash, payload = v.payload, job_id = v.job_id,
                      plan_version = v.plan_version, status = 'queued', updated_at = ${t}
                    from (select value ->> 'id' as id, value ->> 'expected' as expected,
                      value ->> 'due_at' as due_at, value ->> 'priority' as priority,
                      value ->> 'content_hash' as content_hash, value ->> 'payload' as payload,
                      value ->> 'job_id' as job_id, value ->> 'plan_version' as plan_version
                      from json_each(${values})) as v
                    where deliveries.id = v.id and deliveries.status = v.expected
                    returning deliveries.id, deliveries.organisation_id`
            ).execute(q);
            for (const r of rows) {
              replaced.push(r.id);
              orgOf.set(r.id, r.organisation_id);
            }
          }
          if (replaced.length === 0) return [];
          // Parts that have landed stay as they are: they cannot be taken back. Parts whose
          // outcome is unknown keep their mark (they may be on X): they take the new content, but
          // remember the text that was sent and since when, for the search before any new send.
          const kept = new Set<string>();
          const byId = new Map(candidates.map((c) => [c.id, c]));
          for (let i = 0; i < replaced.length; i += CHUNK) {
            const ids = replaced.slice(i, i + CHUNK);
            const landed = await q
              .selectFrom('delivery_parts')
              .select(['delivery_id', 'part'])
              .where('delivery_id', 'in', ids)
              .where('remote_id', 'is not', null)
              .execute();
            for (const p of landed) kept.add(`${p.delivery_id}\u0000${Number(p.part)}`);
            for (const m of marked.filter((m) => ids.includes(m.delivery_id))) {
              const key = `${m.delivery_id}\u0000${Number(m.part)}`;
              kept.add(key);
              const next = byId.get(m.delivery_id)?.change.parts.find((p) => p.part === Number(m.part));
              // Not in the new content (plan apply does not let that happen): left exactly as it was.
              if (!next) continue;
              const sentText = m.unknown_text ?? (m.text !== next.text ? m.text : null);
              const since = m.unknown_since ?? (m.due_at < m.updated_at ? m.due_at : m.updated_at);
              await q
                .updateTable('delivery_parts')
                .set({
                  text: next.text,
                  images: JSON.stringify(next.images),
                  language: next.language,
                  unknown_text: sentText,
                  unknown_since: since,
                })
                .where('delivery_id', '=', m.delivery_id)
                .where('part', '=', Number(m.part))
                .execute();
            }
            await q
              .deleteFrom('delivery_parts')
              .where('delivery_id', 'in', ids)
              .where('remote_id', 'is', null)
              .where('outcome_unknown', '=', 0)
              .execute();
          }
          await insertParts(
            q,
            dialect,
            replaced.flatMap((id) => {
              const c = byId.get(id);
              const organisationId = orgOf.get(id);
              if (!c || organisationId === undefined) return [];
              return c.change.parts
                .filter((p) => !kept.has(`${id}\u0000${p.part}`))
                .map((p) => ({ ...p, deliveryId: id, organisationId }));
            }),
          );
          return replaced;
        });
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
          .set({ job_id: jobId, updated_at: iso(now()), ...(status ? { status } : {}) })
          .where('id', '=', id)
          .execute();
      },
    },

    profiles: {
      async saveSnapshot(s) {
        const takenAt = now();
        const row = await db
          .insertInto('profile_snapshots')
          .values({
            organisation_id: s.organisationId,
            network: s.network,
            delivery_id: s.deliveryId ?? null,
            profile: JSON.stringify(s.profile ?? null),
            taken_at: iso(takenAt),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        return { ...s, id: Number(row.id), takenAt };
      },
      async latestSnapshot(organisationId, network) {
        const row = await db
          .selectFrom('profile_snapshots')
          .selectAll()
          .where('organisation_id', '=', organisationId)
          .where('network', '=', network)
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst();
        return row ? snapshotFromRow(row) : undefined;
      },
      async snapshotOfDelivery(deliveryId) {
        const row = await db
          .selectFrom('profile_snapshots')
          .selectAll()
          .where('delivery_id', '=', deliveryId)
          .orderBy('id')
          .limit(1)
          .executeTakeFirst();
        return row ? snapshotFromRow(row) : undefined;
      },
    },

    tokens: {
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
    },

    kv: {
      async get(organisationId, key) {
        const row = await db
          .selectFrom('kv')
          .select('value')
          .where('organisation_id', '=', organisationId)
          .where('key', '=', key)
          .executeTakeFirst();
        return row?.value;
      },
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
    },

    audit: {
      append: appendAudit,
      async list(filter) {
        let query = db.selectFrom('audit_log').selectAll();
        if (filter.organisationId !== undefined)
          query = query.where('organisation_id', '=', filter.organisationId);
        if (filter.from !== undefined) query = query.where('at', '>=', iso(filter.from));
        if (filter.to !== undefined) query = query.where('at', '<', iso(filter.to));
        if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
        if (filter.action !== undefined) {
          query = filter.action.endsWith('*')
            ? query.where('action', 'like', `${filter.action.slice(0, -1)}%`)
            : query.where('action', '=', filter.action);
        }
        if (filter.network !== undefined) query = query.where('network', '=', filter.network);
        if (filter.postId !== undefined) query = query.where('post_id', '=', filter.postId);
        if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
        const rows = await query
          .orderBy('seq')
          .limit(filter.limit ?? 1000)
          .execute();
        return rows.map(auditFromRow);
      },
      async count(filter) {
        let query = db
          .selectFrom('audit_log')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('organisation_id', '=', filter.organisationId);
        if (filter.throughSeq !== undefined) query = query.where('seq', '<=', filter.throughSeq);
        const row = await query.executeTakeFirst();
        return Number(row?.n ?? 0);
      },
      head: () => readAuditHead(db),
      async hashes({ afterSeq, throughSeq, limit }) {
        const rows = await db
          .selectFrom('audit_log')
          .select(['seq', 'organisation_id', 'hash'])
          .where('seq', '>', afterSeq)
          .where('seq', '<=', throughSeq)
          .orderBy('seq')
          .limit(limit)
          .execute();
        return rows.map((r) => ({ seq: Number(r.seq), organisationId: r.organisation_id, hash: r.hash }));
      },
    },
  };
}

async function insertParts(
  q: Kysely<Database>,
  dialect: Dialect,
  parts: Parameters<typeof partRows>[0],
): Promise<Selectable<DeliveryPartsTable>[]> {
  const rows = partRows(parts);
  await insertInChunks(q, dialect, 'delivery_parts', rows);
  return rows;
}

function partRows(
  parts: readonly {
    deliveryId: string;
    organisationId: string;
    part: number;
    text: string;
    images: DeliveryImage[];
    language: string;
  }[],
): Selectable<DeliveryPartsTable>[] {
  return parts.map((p) => ({
    delivery_id: p.deliveryId,
    organisation_id: p.organisationId,
    part: p.part,
    text: p.text,
    images: JSON.stringify(p.images),
    language: p.language,
    outcome_unknown: 0,
    unknown_text: null,
    unknown_since: null,
    remote_id: null,
    url: null,
    remote_ref: null,
    published_at: null,
  }));
}

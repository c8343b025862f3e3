/**
 * The audit log: entries appended to one hash chain (see chainAudit), and read back by filter,
 * count or range.
 */
import type { Kysely } from 'kysely';
import { readAuditHead } from '../audit-head.ts';
import { createHash } from 'node:crypto';
import { auditBody, auditFromRow, auditHash, auditToRow, jsonSafe } from '../audit.ts';
import { jsonCarries } from '../bulk-insert.ts';
import type { AuditLogTable, Database } from '../schema.ts';
import type { AuditEntry, AuditInput, Dialect, Repositories } from '../types.ts';
import { insertInChunks, iso, ROWS_PER_INSERT, type RepoContext } from './context.ts';
import { canonicalText, COLUMNS, FIELDS, PREV } from '../verify/canonical.ts';
import { appendOnKnownHead } from './postgres/append.ts';

/** An audit entry as asked for: cleaned, timed, not yet given its place in the chain. */
export interface PendingAudit {
  input: AuditInput;
  at: Date;
}

/** Unset fields dropped; JSON fields as they will read back (Dates become strings). */
export function cleanAudit(input: AuditInput): AuditInput {
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

/** The chain head as this process last wrote or read it; a guess, checked by every write. */
export interface KnownHead {
  current?: { seq: number; hash: string };
}

export function hashOnto(
  head: { seq: number; hash: string },
  entries: readonly PendingAudit[],
): AuditEntry[] {
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
 * hashOnto and auditToRow together, each JSON field written as canonical JSON once: the row
 * holds that text, and the hash covers the row's canonical text (verify/canonical.ts), in which
 * it is spliced as it is, instead of a second canonicalJson of the whole body. The same hashes
 * and rows as `hashOnto(head, entries).map(auditToRow)` (tested); an entry the row's text cannot
 * stand for (a field set to null or to a value of another type than its column's) is hashed as
 * hashOnto does.
 */
export function hashOntoRows(
  head: { seq: number; hash: string },
  entries: readonly PendingAudit[],
): AuditLogTable[] {
  let { seq, hash: prevHash } = head;
  return entries.map(({ input, at }) => {
    seq += 1;
    const row = auditToRow({ ...input, seq, at, prevHash, hash: '' });
    const text = spliceable(input)
      ? canonicalText(
          COLUMNS.slice(0, PREV).map((c) => row[c]),
          true,
        )
      : undefined;
    row.hash =
      text === undefined
        ? auditHash(prevHash, auditBody({ ...input, seq, at }))
        : createHash('sha256').update(`${prevHash}\n${text}`).digest('hex');
    prevHash = row.hash;
    return row;
  });
}

const TEXT_FIELDS = FIELDS.flatMap(([key, , kind]) => (kind === 'text' && key !== 'at' ? [key] : []));

/** Whether the row's text fields say what the entry's do: each one a string, or unset. */
function spliceable(input: AuditInput): boolean {
  const fields = input as unknown as Record<string, unknown>;
  return TEXT_FIELDS.every((key) => fields[key] === undefined || typeof fields[key] === 'string');
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
  const guessedRows = fast ? hashOntoRows(guess, entries) : [];
  // Rows JSON cannot carry exactly (a lone surrogate) take the slow way's bound parameters.
  if (fast && jsonCarries(guessedRows)) {
    if (await appendOnKnownHead(q, known, guess, guessedRows, [], 'audit-chain')) return;
  }
  const written = hashOnto(await readAuditHead(q, dialect === 'postgres'), entries);
  const last = written[written.length - 1]!;
  await insertInChunks(q, dialect, 'audit_log', written.map(auditToRow));
  await q.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where('id', '=', 1).execute();
  known.current = { seq: last.seq, hash: last.hash };
}

export function auditRepository(ctx: RepoContext): Repositories['audit'] {
  const { db, dialect, atomic, now } = ctx;
  return {
    async append(input: AuditInput): Promise<void> {
      const entry: PendingAudit = { input: cleanAudit(input), at: now() };
      if (ctx.auditSink) ctx.auditSink(entry);
      else await atomic((q) => chainAudit(q, dialect, [entry], ctx.knownHead));
    },
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
  };
}

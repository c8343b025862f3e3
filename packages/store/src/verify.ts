/**
 * Verification of the audit chain (see audit.ts for the hash): every entry is read back in seq
 * order, its hash recomputed and its link to the entry before it checked, then the chain head is
 * compared with the last entry. The first entry that does not match is reported.
 *
 * A million entries must verify in a few seconds, so the per-entry work is kept small:
 *
 * - Rows are read as plain arrays straight through the drivers (better-sqlite3 on a read-only
 *   connection of its own, pg with rowMode 'array' and no type parsing), in seq ranges, each
 *   reader inside one read transaction so the head it reads matches the rows it reads.
 * - The canonical text of an entry is written straight from its columns: the body's keys are
 *   known and fixed, and the JSON columns (before, after, details) hold canonical JSON since
 *   auditToRow writes them that way, so their text is spliced in as it is, not parsed and
 *   re-serialised. A row whose text does not give its hash that way (a JSON column written in
 *   another formatting before auditToRow wrote canonical JSON, say) is checked again the long
 *   way, through auditFromRow → auditBody → auditHash, before it is called edited.
 * - Each row holds its own prev_hash, so ranges of the chain verify independently: a long chain
 *   is cut into one range per core, each verified in a worker thread, and the ranges are joined
 *   in order (a range's first prev_hash must be the hash that ends the range before it). The
 *   lowest bad entry of all is the one reported, as a sequential check would report it.
 *
 * This module is also the workers' entry point (see the end of the file). What a worker runs
 * imports only node built-ins and the two drivers, so it loads the same way from the
 * TypeScript sources and from the built files; the long way (audit.ts, which needs
 * @sunset/core) is only ever taken on the calling thread.
 */
import { hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { readAuditHead } from './audit-head.ts';
import { GENESIS_HASH } from './migrations.ts';
import type { AuditLogTable, Database } from './schema.ts';
import type { AuditVerifyResult, Dialect } from './types.ts';

/** Where the chain is read from: the store's own Kysely instance and how it was opened. */
export interface AuditSource {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The URL the store was opened with (a SQLite path or a postgres:// URL). */
  url: string;
  /** The PostgreSQL schema the store lives in, when not the default one. */
  schema?: string | undefined;
}

export interface VerifyOptions {
  onProgress?: (checked: number) => void;
  /** Entries read per query (and per progress report). */
  batchSize?: number;
}

// --- the canonical text of a row ----------------------------------------------------------------

/**
 * The body's keys (auditBody) in canonicalJson's order, each with its column and how its value
 * is written: `text` as a JSON string, `json` spliced as stored, `number` as digits. The rows are
 * read with exactly these columns in this order, then prev_hash and hash.
 */
const FIELDS = [
  ['action', 'action', 'text'],
  ['actor', 'actor', 'text'],
  ['after', 'after', 'json'],
  ['at', 'at', 'text'],
  ['before', 'before', 'json'],
  ['deliveryId', 'delivery_id', 'text'],
  ['details', 'details', 'json'],
  ['error', 'error', 'text'],
  ['jobId', 'job_id', 'text'],
  ['network', 'network', 'text'],
  ['organisationId', 'organisation_id', 'text'],
  ['outcome', 'outcome', 'text'],
  ['postId', 'post_id', 'text'],
  ['remoteId', 'remote_id', 'text'],
  ['requestId', 'request_id', 'text'],
  ['seq', 'seq', 'number'],
] as const satisfies readonly (readonly [string, keyof AuditLogTable, 'text' | 'json' | 'number'])[];

/** A row as read: the FIELDS columns in order, then prev_hash and hash (PostgreSQL: all text). */
type Row = (string | number | null)[];
const SEQ = FIELDS.findIndex(([key]) => key === 'seq');
const PREV = FIELDS.length;
const HASH = FIELDS.length + 1;
const COLUMNS = [...FIELDS.map(([, column]) => column), 'prev_hash', 'hash'] as const;
const PREFIXES = FIELDS.map(([key], i) => `${i === 0 ? '' : ','}${JSON.stringify(key)}:`);
const KINDS = FIELDS.map(([, , kind]) => kind);

/**
 * canonicalJson(auditBody(auditFromRow(row))), written from the columns; undefined when a JSON
 * column is not one JSON value (its text would otherwise spill into the keys after it: the same
 * text, and hash, could then be had from other column values).
 */
function canonicalText(row: Row): string | undefined {
  let text = '{';
  for (let i = 0; i < PREFIXES.length; i++) {
    const value = row[i];
    if (value === null || value === undefined) continue;
    const kind = KINDS[i];
    let encoded: string;
    if (kind === 'text') encoded = jsonString(value as string);
    else if (kind === 'number') encoded = String(value);
    else if (isOneJsonValue(value as string)) encoded = value as string;
    else return undefined;
    // The first field (action) is never null, so only it goes without a comma.
    text += PREFIXES[i] + encoded;
  }
  return `${text}}`;
}

/**
 * JSON.stringify of a string. Most need no escape at all, and telling so is quicker than
 * JSON.stringify (quotes, backslashes, control characters and lone surrogates need one).
 */
// eslint-disable-next-line no-control-regex -- control characters are among those JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

function isOneJsonValue(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The long way, as the chain is defined: for a row whose spliced text did not give its hash. */
async function recheckTheLongWay(row: Row): Promise<boolean> {
  const { auditBody, auditFromRow, auditHash } = await import('./audit.ts');
  const record = Object.fromEntries(COLUMNS.map((column, i) => [column, row[i]])) as unknown as AuditLogTable;
  try {
    return auditHash(String(row[PREV]), auditBody(auditFromRow(record))) === row[HASH];
  } catch {
    return false; // a JSON column that does not parse, a date that is not one
  }
}

// --- verifying one range ------------------------------------------------------------------------

/** What is wrong at the first bad entry of a range. */
type Fault =
  | { kind: 'missing'; seq: number; next: number } // entry seq absent, `next` is the one after
  | { kind: 'link'; seq: number }
  | { kind: 'content'; seq: number }
  | { kind: 'tail'; seq: number }; // entries seq … the range's end absent

interface RangeResult {
  /** Entries from the range's start verified good, one after another. */
  checked: number;
  /** prev_hash of the range's first entry, when it is there (the join checks it). */
  firstPrev?: string;
  /** Hash of the last good entry. */
  lastHash?: string;
  fault?: Fault;
}

interface RangeTask {
  from: number;
  /** The last seq the range must hold (rows past it may follow: the last range reads them). */
  to: number;
  /** Hash the range's first entry must link to; undefined: the join checks it. */
  prevHash: string | undefined;
  /** The slow recheck of a row whose fast hash does not match (calling thread only). */
  recheck?: (row: Row) => Promise<boolean>;
  onBatch?: (checked: number) => void;
}

async function verifyRange(batches: AsyncIterable<Row[]>, task: RangeTask): Promise<RangeResult> {
  const result: RangeResult = { checked: 0 };
  let expected = task.from;
  let prevHash = task.prevHash;
  for await (const rows of batches) {
    const before = result.checked;
    for (const row of rows) {
      const seq = Number(row[SEQ]);
      const prev = row[PREV] as string;
      if (seq !== expected) {
        result.fault = { kind: 'missing', seq: expected, next: seq };
        return result;
      }
      if (seq === task.from) result.firstPrev = prev;
      if (prevHash !== undefined && prev !== prevHash) {
        result.fault = { kind: 'link', seq };
        return result;
      }
      const text = canonicalText(row);
      const good =
        (text !== undefined && hash('sha256', `${prev}\n${text}`) === row[HASH]) ||
        (task.recheck !== undefined && (await task.recheck(row)));
      if (!good) {
        result.fault = { kind: 'content', seq };
        return result;
      }
      prevHash = row[HASH] as string;
      result.lastHash = prevHash;
      expected += 1;
      result.checked += 1;
    }
    task.onBatch?.(result.checked - before);
  }
  if (expected <= task.to) result.fault = { kind: 'tail', seq: expected };
  return result;
}

// --- readers ------------------------------------------------------------------------------------

/** One database connection inside one read transaction: what it reads is one snapshot. */
interface ChainReader {
  head(): Promise<{ seq: number; hash: string }>;
  /** Rows from..to in seq order, in batches (to undefined: to the last row). */
  batches(from: number, to: number | undefined, size: number): AsyncIterable<Row[]>;
  /** The lowest seq after `seq`, if any. */
  nextSeqAfter(seq: number): Promise<number | undefined>;
  close(): Promise<void>;
}

/** How a worker (or the calling thread) reaches the database without the store's Kysely. */
type Connection = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string; schema?: string };

const SELECT = `select ${COLUMNS.join(', ')} from audit_log`;

function sqliteReader(file: string): ChainReader {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  // WAL: the snapshot is taken at the first read and kept until commit.
  db.exec('begin');
  const range = db.prepare(`${SELECT} where seq >= ? and seq <= ? order by seq`).raw();
  const after = db.prepare(`${SELECT} where seq >= ? order by seq limit ?`).raw();
  const next = db.prepare('select min(seq) from audit_log where seq > ?').pluck();
  return {
    head: async () => {
      const h = db.prepare('select seq, hash from audit_head where id = 1').get() as {
        seq: number;
        hash: string;
      };
      return { seq: Number(h.seq), hash: h.hash };
    },
    async *batches(from, to, size) {
      for (let start = from; ;) {
        const rows = (
          to === undefined ? after.all(start, size) : range.all(start, Math.min(to, start + size - 1))
        ) as Row[];
        yield rows;
        // better-sqlite3 is synchronous: let the event loop run between batches.
        await nextTurn();
        if (to === undefined) {
          if (rows.length < size) return;
          start = Number(rows[rows.length - 1]?.[SEQ]) + 1;
        } else {
          start += size;
          if (start > to) return;
        }
      }
    },
    nextSeqAfter: async (seq) => (next.get(seq) as number | null) ?? undefined,
    close: async () => {
      db.exec('commit');
      db.close();
    },
  };
}

async function postgresReader(url: string, schema: string | undefined): Promise<ChainReader> {
  const client = new pg.Client({
    connectionString: url,
    // What pg_stat_activity shows for the verification's connections.
    application_name: VERIFY_APPLICATION_NAME,
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    // Every column as the text the server sends: the canonical text is made from it.
    types: { getTypeParser: () => (value: string) => value },
  });
  await client.connect();
  try {
    await client.query('begin transaction isolation level repeatable read read only');
  } catch (err) {
    await client.end();
    throw err;
  }
  const rangeQuery = (from: number, to: number) =>
    client.query<Row>({
      name: 'sunset_verify_range',
      text: `${SELECT} where seq between $1 and $2 order by seq`,
      values: [from, to],
      rowMode: 'array',
    });
  return {
    async head() {
      const r = await client.query<[string, string]>({
        text: 'select seq, hash from audit_head where id = 1',
        rowMode: 'array',
      });
      const [seq, hash] = r.rows[0] ?? ['0', GENESIS_HASH];
      return { seq: Number(seq), hash };
    },
    async *batches(from, to, size) {
      if (to === undefined) {
        for (let start = from; ;) {
          const { rows } = await client.query<Row>({
            name: 'sunset_verify_after',
            text: `${SELECT} where seq >= $1 order by seq limit $2`,
            values: [start, size],
            rowMode: 'array',
          });
          yield rows;
          if (rows.length < size) return;
          start = Number(rows[rows.length - 1]?.[SEQ]) + 1;
        }
      }
      // Ask for the next batch before handing out this one: the server reads it while this
      // thread hashes.
      let pending = rangeQuery(from, Math.min(to, from + size - 1));
      for (let start = from; start <= to; start += size) {
        const current = await pending;
        const following = start + size;
        if (following <= to) pending = rangeQuery(following, Math.min(to, following + size - 1));
        yield current.rows;
      }
    },
    async nextSeqAfter(seq) {
      const r = await client.query<[string | null]>({
        text: 'select min(seq) from audit_log where seq > $1',
        values: [seq],
        rowMode: 'array',
      });
      const next = r.rows[0]?.[0];
      return next === null || next === undefined ? undefined : Number(next);
    },
    async close() {
      await client.query('commit').catch(() => undefined);
      await client.end();
    },
  };
}

/** Through the store's own Kysely (an in-memory SQLite database has no second connection). */
function kyselyReader(db: Kysely<Database>): ChainReader {
  const toRow = (r: AuditLogTable): Row => COLUMNS.map((column) => r[column]);
  return {
    head: () => readAuditHead(db),
    async *batches(from, to, size) {
      for (let start = from; ;) {
        let q = db.selectFrom('audit_log').selectAll().where('seq', '>=', start).orderBy('seq').limit(size);
        if (to !== undefined) q = q.where('seq', '<=', to);
        const rows = (await q.execute()).map(toRow);
        yield rows;
        if (rows.length < size) return;
        start = Number(rows[rows.length - 1]?.[SEQ]) + 1;
      }
    },
    async nextSeqAfter(seq) {
      const r = await db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.min('seq').as('next'))
        .where('seq', '>', seq)
        .executeTakeFirst();
      return r?.next === null || r?.next === undefined ? undefined : Number(r.next);
    },
    close: async () => undefined,
  };
}

function openReader(connection: Connection): Promise<ChainReader> {
  return connection.dialect === 'sqlite'
    ? Promise.resolve(sqliteReader(connection.file))
    : postgresReader(connection.url, connection.schema);
}

/** The file openStore opened (`sqlite:` prefix or not); undefined for an in-memory database. */
function connectionOf(source: AuditSource): Connection | undefined {
  if (source.dialect === 'postgres') {
    return {
      dialect: 'postgres',
      url: source.url,
      ...(source.schema !== undefined ? { schema: source.schema } : {}),
    };
  }
  const file = source.url.replace(/^sqlite:(\/\/)?/i, '');
  return file === '' || file === ':memory:' || file.startsWith('file:')
    ? undefined
    : { dialect: 'sqlite', file };
}

// --- the whole chain ----------------------------------------------------------------------------

/** A chain is cut into ranges only when each range gets at least this many batches. */
const MIN_BATCHES_PER_RANGE = 8;
const MAX_RANGES = 8;

interface Span {
  from: number;
  /** The range's last seq; undefined for the last range: up to the head, then any rows past it. */
  to: number | undefined;
  batchSize: number;
}

/** What verifying a span found, with the head it read (the last span only). */
interface SpanReport {
  result: RangeResult;
  /** The last seq the span had to hold (for the last span: the head's). */
  to: number;
  head?: { seq: number; hash: string };
}

/**
 * Verifies a span over one reader. The last span reads the head first, in the snapshot its rows
 * come from, so an append made meanwhile is neither half-seen nor taken for a broken chain.
 */
async function verifySpan(
  reader: ChainReader,
  span: Span,
  options: Pick<RangeTask, 'prevHash' | 'recheck' | 'onBatch'>,
): Promise<SpanReport> {
  const head = span.to === undefined ? await reader.head() : undefined;
  const to = span.to ?? head?.seq ?? 0;
  async function* rows(): AsyncIterable<Row[]> {
    if (span.from <= to) yield* reader.batches(span.from, to, span.batchSize);
    if (head) yield* reader.batches(Math.max(span.from, to + 1), undefined, span.batchSize);
  }
  const result = await verifyRange(rows(), { from: span.from, to, ...options });
  return { result, to, ...(head ? { head } : {}) };
}

interface WorkerTask extends Span {
  connection: Connection;
}

type WorkerMessage =
  | { type: 'progress'; checked: number }
  | { type: 'done'; report: SpanReport }
  | { type: 'failed'; message: string };

/** To a worker: its report is no longer needed; it stops after the batch under way. */
const CANCEL = 'cancel';

interface Running {
  report: Promise<SpanReport>;
  /** Whether a content fault in the report was already checked the long way. */
  rechecked: boolean;
  /** Its report is no longer needed: it stops after the batch under way. */
  cancel(): void;
  /** Settles once the thread has exited (at once for a span verified in this thread). */
  exited: Promise<void>;
}

/** A span verified in a worker thread (this same module, see the end of the file). */
function spanInWorker(task: WorkerTask, onProgress: (checked: number) => void): Running {
  const worker = new Worker(new URL(import.meta.url), { workerData: { [WORKER_TASK]: task } });
  let exited = false;
  const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const report = new Promise<SpanReport>((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') onProgress(message.checked);
      else if (message.type === 'done') resolve(message.report);
      else reject(new Error(`audit verification: ${message.message}`));
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      exited = true;
      reject(new Error(`the audit verification worker stopped (exit code ${code})`));
    });
  });
  // Only an awaited report's failure matters: it is rethrown there.
  report.catch(() => undefined);
  // Asked to stop, not terminated: terminating a thread inside a call to better-sqlite3 (opening
  // the database, loading the addon, closing) aborts the whole process (a fatal N-API error).
  const cancel = () => {
    if (!exited) worker.postMessage(CANCEL);
  };
  return { report, rechecked: false, cancel, exited: gone };
}

const REASONS = {
  link: 'its previous-hash does not link to the entry before it',
  content: 'its content does not match its hash (edited after it was written)',
};

/** The head compared with the last entry verified (all entries 1 … checked are good). */
function compareHead(
  head: { seq: number; hash: string },
  checked: number,
  lastHash: string,
): AuditVerifyResult {
  if (head.seq === checked && head.hash === lastHash) return { ok: true, checked };
  return {
    ok: false,
    checked,
    firstBad: {
      seq: checked + 1 > head.seq ? head.seq : checked + 1,
      reason:
        head.seq > checked
          ? `the chain head says ${head.seq} entries but entries after ${checked} are missing`
          : `the chain head (${head.seq}) does not match the last entry (${checked})`,
    },
  };
}

export async function verifyAuditChain(
  source: AuditSource,
  opts: VerifyOptions = {},
): Promise<AuditVerifyResult> {
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 5000));
  const connection = connectionOf(source);
  const openHere = () => (connection ? openReader(connection) : Promise.resolve(kyselyReader(source.db)));
  // Progress as a single pass gives it: every whole batch checked, then the total at the end.
  let verified = 0;
  let shown = 0;
  const progress = (n: number) => {
    verified += n;
    const step = verified - (verified % batchSize);
    if (step > shown) opts.onProgress?.((shown = step));
  };

  // Ranges of whole batches, the last one open-ended (it reads the head, in its own snapshot).
  const batches = Math.ceil((await kyselyReader(source.db).head()).seq / batchSize);
  const ranges = connection
    ? Math.min(MAX_RANGES, availableParallelism(), Math.floor(batches / MIN_BATCHES_PER_RANGE))
    : 1;
  let running: Running[];
  if (ranges <= 1) {
    // Here, on this thread, with the long way at hand.
    const reader = await openHere();
    const report = verifySpan(
      reader,
      { from: 1, to: undefined, batchSize },
      { prevHash: GENESIS_HASH, recheck: recheckTheLongWay, onBatch: progress },
    ).finally(() => reader.close());
    running = [{ report, rechecked: true, cancel: () => undefined, exited: Promise.resolve() }];
  } else {
    const per = Math.ceil(batches / ranges) * batchSize;
    running = Array.from({ length: ranges }, (_, k) =>
      spanInWorker(
        {
          connection: connection!,
          from: 1 + k * per,
          to: k === ranges - 1 ? undefined : (k + 1) * per,
          batchSize,
        },
        progress,
      ),
    );
  }

  try {
    // The join, in seq order: entries 1 … good are verified and prevHash is the last one's hash.
    let good = 0;
    let prevHash = GENESIS_HASH;
    for (const [k, range] of running.entries()) {
      const { to, head: read, result: found } = await range.report;
      let head = read;
      const from = good + 1;
      let result = found;
      if (result.firstPrev !== undefined && result.firstPrev !== prevHash) {
        result = { checked: 0, fault: { kind: 'link', seq: from } };
      } else if (result.fault?.kind === 'content' && !range.rechecked) {
        // Found the quick way in a worker: go on from there here, where the long way is at hand.
        const reader = await openHere();
        try {
          const rest = await verifySpan(
            reader,
            { from: result.fault.seq, to: head ? undefined : to, batchSize },
            { prevHash: result.lastHash ?? prevHash, recheck: recheckTheLongWay, onBatch: progress },
          );
          if (rest.head) head = rest.head;
          result = {
            checked: result.checked + rest.result.checked,
            ...((rest.result.lastHash ?? result.lastHash) !== undefined
              ? { lastHash: rest.result.lastHash ?? result.lastHash }
              : {}),
            ...(rest.result.fault ? { fault: rest.result.fault } : {}),
          };
        } finally {
          await reader.close();
        }
      }
      good += result.checked;
      prevHash = result.lastHash ?? prevHash;
      const fault = result.fault;
      if (fault) {
        for (const later of running.slice(k + 1)) later.cancel();
        if (fault.kind === 'missing') {
          const reason = `entry ${fault.seq} is missing (the next one is ${fault.next})`;
          return { ok: false, checked: good, firstBad: { seq: fault.seq, reason } };
        }
        if (fault.kind !== 'tail')
          return { ok: false, checked: good, firstBad: { seq: fault.seq, reason: REASONS[fault.kind] } };
        // Entries from fault.seq to the range's end are absent: say which one comes next, if any.
        const reader = await openHere();
        try {
          const next = await reader.nextSeqAfter(fault.seq);
          if (next !== undefined) {
            const reason = `entry ${fault.seq} is missing (the next one is ${next})`;
            return { ok: false, checked: good, firstBad: { seq: fault.seq, reason } };
          }
          return compareHead(await reader.head(), good, prevHash);
        } finally {
          await reader.close();
        }
      }
      if (head) {
        opts.onProgress?.(good);
        return compareHead(head, good, prevHash);
      }
    }
    throw new Error('audit verification: the last range did not read the head');
  } finally {
    for (const range of running) range.cancel();
    // No thread goes on reading once this returns (a caller may drop the schema, or exit): each
    // stops after the batch under way. Bounded, should one not stop.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((r) => r.exited)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, THREADS_STOP_MS))),
    ]);
    clearTimeout(timer);
  }
}

/** PostgreSQL: the application_name of a verification's connections. */
export const VERIFY_APPLICATION_NAME = 'sunset-audit-verify';

/** How long a verification waits at most for its cancelled threads to stop. */
const THREADS_STOP_MS = 10_000;

// --- the worker's side ---------------------------------------------------------------------------

const WORKER_TASK = 'sunsetVerifyAuditSpan';

class Cancelled extends Error {}

async function runWorkerTask(task: WorkerTask): Promise<void> {
  const port = parentPort!;
  let cancelled = false;
  port.on('message', (message: unknown) => {
    if (message === CANCEL) cancelled = true;
  });
  // The port alone does not keep this thread alive once its work is done.
  port.unref();
  try {
    const reader = await openReader(task.connection);
    try {
      const report = await verifySpan(reader, task, {
        prevHash: undefined,
        onBatch: (checked) => {
          if (cancelled) throw new Cancelled('cancelled');
          port.postMessage({ type: 'progress', checked } satisfies WorkerMessage);
        },
      });
      port.postMessage({ type: 'done', report } satisfies WorkerMessage);
    } finally {
      await reader.close();
    }
  } catch (err) {
    port.postMessage({ type: 'failed', message: (err as Error).message } satisfies WorkerMessage);
  }
}

const task = isMainThread ? undefined : (workerData as Record<string, WorkerTask> | null)?.[WORKER_TASK];
if (task) void runWorkerTask(task);

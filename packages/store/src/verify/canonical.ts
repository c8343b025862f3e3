/**
 * The canonical text of an audit row, written straight from its columns, and the check of a run
 * of rows with it: each row's hash and its link to the row before. Imports only node built-ins,
 * as worker threads run it too (see worker.ts).
 */
import { hash } from 'node:crypto';
import type { AuditLogTable } from '../schema.ts';

/**
 * The body's keys (auditBody) in canonicalJson's order, each with its column and how its value
 * is written: `text` as a JSON string, `json` spliced as stored, `number` as digits. The rows are
 * read with exactly these columns in this order, then prev_hash and hash.
 */
export const FIELDS = [
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
export type Row = (string | number | null)[];
export const SEQ = FIELDS.findIndex(([key]) => key === 'seq');
export const PREV = FIELDS.length;
export const HASH = FIELDS.length + 1;
export const COLUMNS = [...FIELDS.map(([, column]) => column), 'prev_hash', 'hash'] as const;
const PREFIXES = FIELDS.map(([key], i) => `${i === 0 ? '' : ','}${JSON.stringify(key)}:`);
const KINDS = FIELDS.map(([, , kind]) => kind);

/**
 * canonicalJson(auditBody(auditFromRow(row))), written from the columns; undefined when a JSON
 * column is not one JSON value (its text would otherwise spill into the keys after it: the same
 * text, and hash, could then be had from other column values). `jsonChecked`: the JSON columns
 * are known to be one value each (written by canonicalJson just now), not parsed to be sure.
 */
export function canonicalText(row: Row, jsonChecked = false): string | undefined {
  let text = '{';
  for (let i = 0; i < PREFIXES.length; i++) {
    const value = row[i];
    if (value === null || value === undefined) continue;
    const kind = KINDS[i];
    let encoded: string;
    if (kind === 'text') encoded = jsonString(value as string);
    else if (kind === 'number') encoded = String(value);
    else if (jsonChecked || isOneJsonValue(value as string)) encoded = value as string;
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
export function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

export function isOneJsonValue(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
// --- verifying one range ------------------------------------------------------------------------

/** What is wrong at the first bad entry of a range. */
type Fault =
  | { kind: 'missing'; seq: number; next: number } // entry seq absent, `next` is the one after
  | { kind: 'link'; seq: number }
  | { kind: 'content'; seq: number }
  | { kind: 'tail'; seq: number }; // entries seq … the range's end absent

export interface RangeResult {
  /** Entries from the range's start verified good, one after another. */
  checked: number;
  /** prev_hash of the range's first entry, when it is there (the join checks it). */
  firstPrev?: string;
  /** Hash of the last good entry. */
  lastHash?: string;
  fault?: Fault;
}

export interface RangeTask {
  from: number;
  /** The last seq the range must hold (rows past it may follow: the last range reads them). */
  to: number;
  /** Hash the range's first entry must link to; undefined: the join checks it. */
  prevHash: string | undefined;
  /** The slow recheck of a row whose fast hash does not match (calling thread only). */
  recheck?: (row: Row) => Promise<boolean>;
  onBatch?: (checked: number) => void;
}

export async function verifyRange(batches: AsyncIterable<Row[]>, task: RangeTask): Promise<RangeResult> {
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

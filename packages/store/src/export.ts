/**
 * The audit log as files for archives and spreadsheets: CSV (RFC 4180) and NDJSON, the same
 * columns everywhere (API export, CLI export), so an archivist gets one format whatever the tool.
 */
import type { AuditEntry } from './types.ts';

/** The audit entry's fields held as text, and those held as JSON, in the export's column order. */
const TEXT_FIELDS = [
  'organisationId',
  'actor',
  'action',
  'network',
  'postId',
  'deliveryId',
  'remoteId',
  'outcome',
  'error',
  'requestId',
  'jobId',
] as const;
const JSON_FIELDS = ['before', 'after', 'details'] as const;

export const AUDIT_COLUMNS = ['seq', 'at', ...TEXT_FIELDS, ...JSON_FIELDS, 'prevHash', 'hash'] as const;

/** RFC 4180 quoting; a leading = + - @ is neutralised so that a spreadsheet never runs a cell as a formula. */
function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text =
    value instanceof Date
      ? value.toISOString()
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function auditCsvHeader(): string {
  return `${AUDIT_COLUMNS.join(',')}\r\n`;
}

export function auditCsvRows(entries: readonly AuditEntry[]): string {
  return entries.map((e) => `${AUDIT_COLUMNS.map((c) => csvCell(e[c])).join(',')}\r\n`).join('');
}

export function auditJson(entry: AuditEntry): Record<string, unknown> {
  return { ...entry, at: entry.at.toISOString() };
}

export function auditNdjson(entries: readonly AuditEntry[]): string {
  return entries.map((e) => `${JSON.stringify(auditJson(e))}\n`).join('');
}

// --- reading an export back (sunset audit verify-export) -----------------------------------------

export class AuditExportError extends Error {
  override name = 'AuditExportError';
}

/** An entry read back from an export, with where it was (file:line). */
export interface ExportedEntry {
  entry: AuditEntry;
  where: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

function entryFrom(v: Record<string, unknown>, where: string): AuditEntry {
  const seq = v['seq'];
  if (!Number.isSafeInteger(seq) || (seq as number) < 1)
    throw new AuditExportError(`${where}: seq: a whole number ≥ 1 expected`);
  const at = new Date(typeof v['at'] === 'string' ? v['at'] : NaN);
  if (Number.isNaN(at.getTime())) throw new AuditExportError(`${where}: at: a date and time expected`);
  for (const f of ['prevHash', 'hash'] as const)
    if (typeof v[f] !== 'string' || !HEX64.test(v[f]))
      throw new AuditExportError(`${where}: ${f}: 64 hex digits expected`);
  for (const f of TEXT_FIELDS)
    if (v[f] !== undefined && typeof v[f] !== 'string')
      throw new AuditExportError(`${where}: ${f}: a string expected`);
  for (const f of ['actor', 'action', 'outcome'] as const)
    if (v[f] === undefined) throw new AuditExportError(`${where}: ${f}: missing`);
  const entry: Record<string, unknown> = { seq, at, prevHash: v['prevHash'], hash: v['hash'] };
  for (const f of [...TEXT_FIELDS, ...JSON_FIELDS]) if (v[f] !== undefined) entry[f] = v[f];
  return entry as unknown as AuditEntry;
}

/** RFC 4180 records with the line each starts on. */
function csvRecords(text: string): { cells: string[]; line: number }[] {
  const records: { cells: string[]; line: number }[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let start = 1;
  let quoted = false;
  let i = 0;
  const endRecord = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0] === '')) records.push({ cells, line: start });
    cells = [];
    cell = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else {
        if (c === '\n') line += 1;
        cell += c;
      }
      i += 1;
      continue;
    }
    if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      i += 1;
      continue;
    } else if (c === '\n') {
      endRecord();
      line += 1;
      start = line;
    } else cell += c;
    i += 1;
  }
  if (quoted) throw new AuditExportError(`line ${start}: a quoted cell is not closed`);
  if (cell !== '' || cells.length > 0) endRecord();
  return records;
}

/** What a CSV cell may have been (csvCell is not one to one): the likeliest first. */
function cellCandidates(text: string, kind: 'text' | 'json'): unknown[] {
  const texts = /^'[=+\-@\t\r]/.test(text) ? [text.slice(1), text] : [text];
  const out: unknown[] = [];
  for (const t of texts) {
    if (t === '') out.push(undefined, '');
    else if (kind === 'json') {
      try {
        out.push(JSON.parse(t) as unknown);
      } catch {
        // Not JSON: a string value, written as it is.
      }
      out.push(t);
    } else out.push(t);
  }
  return out;
}

/** At most this many readings of one CSV row are tried against its hash. */
const MAX_READINGS = 4096;

function csvEntry(cells: string[], where: string, matches: (entry: AuditEntry) => boolean): AuditEntry {
  const at = (c: (typeof AUDIT_COLUMNS)[number]) => cells[AUDIT_COLUMNS.indexOf(c)] ?? '';
  const fixed: Record<string, unknown> = {
    seq: /^\d+$/.test(at('seq')) ? Number(at('seq')) : NaN,
    at: at('at'),
    prevHash: at('prevHash'),
    hash: at('hash'),
  };
  const open = [
    ...TEXT_FIELDS.map((f) => [f, cellCandidates(at(f), 'text')] as const),
    ...JSON_FIELDS.map((f) => [f, cellCandidates(at(f), 'json')] as const),
  ];
  const pick = (choice: number[]) => {
    const v: Record<string, unknown> = { ...fixed };
    open.forEach(([f, options], k) => {
      const value = options[choice[k]!];
      if (value !== undefined) v[f] = value;
    });
    return entryFrom(v, where);
  };
  const choice = open.map(() => 0);
  const first = pick(choice);
  for (let n = 0; n < MAX_READINGS; n++) {
    let entry: AuditEntry | undefined;
    try {
      entry = pick(choice);
    } catch {
      entry = undefined;
    }
    if (entry && matches(entry)) return entry;
    // The next reading, odometer-wise.
    let k = 0;
    for (; k < open.length; k++) {
      choice[k]! += 1;
      if (choice[k]! < open[k]![1].length) break;
      choice[k] = 0;
    }
    if (k === open.length) break;
  }
  return first;
}

/**
 * Entries from an export's text, NDJSON or CSV (told apart by the first line); `file` names it in
 * errors, `matches` tells a CSV reading of a row that gives its hash (CSV loses types).
 */
export function parseAuditExport(
  text: string,
  file: string,
  matches: (entry: AuditEntry) => boolean,
): ExportedEntry[] {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') return [];
  const firstLine = body.split(/\r?\n/, 1)[0] ?? '';
  if (firstLine.trimStart().startsWith('{')) {
    const out: ExportedEntry[] = [];
    body.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${file}:${i + 1}`;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new AuditExportError(`${where}: not JSON (${(err as Error).message})`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new AuditExportError(`${where}: an audit entry (a JSON object) expected`);
      out.push({ entry: entryFrom(value as Record<string, unknown>, where), where });
    });
    return out;
  }
  const records = csvRecords(body);
  const header = records.shift();
  if (!header || header.cells.join(',') !== AUDIT_COLUMNS.join(','))
    throw new AuditExportError(
      `${file}:1: neither NDJSON nor the audit CSV (its header is ${AUDIT_COLUMNS.join(',')})`,
    );
  return records.map(({ cells, line }) => {
    const where = `${file}:${line}`;
    if (cells.length !== AUDIT_COLUMNS.length)
      throw new AuditExportError(`${where}: ${cells.length} cells, ${AUDIT_COLUMNS.length} expected`);
    return { entry: csvEntry(cells, where, matches), where };
  });
}

/**
 * The audit log as files for archives and spreadsheets: CSV (RFC 4180) and NDJSON, the same
 * columns everywhere (API export, CLI export), so an archivist gets one format whatever the tool.
 */
import type { AuditEntry } from './types.ts';

export const AUDIT_COLUMNS = [
  'seq',
  'at',
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
  'before',
  'after',
  'details',
  'prevHash',
  'hash',
] as const;

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

export type * from './types.ts';
export { FINAL_STATUSES } from './types.ts';
export { openStore, openStoreOrExit, describeUrl, dialectOf } from './open.ts';
export { StoreError, StoreUnavailableError } from './errors.ts';
export { auditBody, auditHash } from './audit.ts';
export { GENESIS_HASH } from './migrations.ts';
export {
  AUDIT_COLUMNS,
  AuditExportError,
  auditCsvHeader,
  auditCsvRows,
  auditJson,
  auditNdjson,
  parseAuditExport,
  type ExportedEntry,
} from './export.ts';
export * from './checkpoint.ts';
export { LeaseLostError } from './repositories/index.ts';

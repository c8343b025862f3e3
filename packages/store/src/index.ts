export type * from './types.ts';
export { FINAL_STATUSES } from './types.ts';
export { openStore, openStoreOrExit, StoreError, describeUrl, dialectOf } from './open.ts';
export { auditBody, auditHash } from './audit.ts';
export { GENESIS_HASH } from './migrations.ts';
export { AUDIT_COLUMNS, auditCsvHeader, auditCsvRows, auditJson, auditNdjson } from './export.ts';
export { LeaseLostError } from './repositories.ts';

/**
 * Verification of the audit chain (see audit.ts for the hash): every entry is read back in seq
 * order, its hash recomputed and its link to the entry before it checked, then the chain head is
 * compared with the last entry. The first entry that does not match is reported.
 */
import type { Kysely } from 'kysely';
import { auditBody, auditFromRow, auditHash } from './audit.ts';
import { GENESIS_HASH } from './migrations.ts';
import type { Database } from './schema.ts';
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
  batchSize?: number;
}

export async function verifyAuditChain(
  source: AuditSource,
  opts: VerifyOptions = {},
): Promise<AuditVerifyResult> {
  const { db } = source;
  const batch = opts.batchSize ?? 5000;
  let prevHash = GENESIS_HASH;
  let expected = 1;
  let checked = 0;
  for (;;) {
    const rows = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>=', expected)
      .orderBy('seq')
      .limit(batch)
      .execute();
    for (const row of rows) {
      const entry = auditFromRow(row);
      if (entry.seq !== expected) {
        return {
          ok: false,
          checked,
          firstBad: {
            seq: expected,
            reason: `entry ${expected} is missing (the next one is ${entry.seq})`,
          },
        };
      }
      if (entry.prevHash !== prevHash) {
        return {
          ok: false,
          checked,
          firstBad: { seq: entry.seq, reason: 'its previous-hash does not link to the entry before it' },
        };
      }
      const hash = auditHash(prevHash, auditBody(entry));
      if (hash !== entry.hash) {
        return {
          ok: false,
          checked,
          firstBad: {
            seq: entry.seq,
            reason: 'its content does not match its hash (edited after it was written)',
          },
        };
      }
      prevHash = hash;
      expected += 1;
      checked += 1;
    }
    opts.onProgress?.(checked);
    if (rows.length < batch) break;
  }
  const h = await db
    .selectFrom('audit_head')
    .select(['seq', 'hash'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  const head = { seq: Number(h.seq), hash: h.hash };
  if (head.seq !== checked || head.hash !== prevHash) {
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
  return { ok: true, checked };
}

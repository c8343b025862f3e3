/**
 * The audit chain. Each entry's hash covers the previous entry's hash and a canonical encoding
 * of the entry itself, so editing, removing or reordering any entry breaks every hash after it.
 *
 *   hash = sha256_hex(prevHash + "\n" + canonicalJson(body))
 *
 * where body holds seq, at (ISO 8601 UTC with ms) and every field of the entry that is set
 * (organisationId, actor, action, network, postId, deliveryId, remoteId, before, after,
 * requestId, jobId, outcome, error, details), keys sorted, unset fields left out.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, type Network } from '@sunset/core';
import type { AuditLogTable } from './schema.ts';
import type { AuditEntry, AuditInput, AuditOutcome } from './types.ts';

export function auditBody(entry: AuditInput & { seq: number; at: Date }): Record<string, unknown> {
  return {
    seq: entry.seq,
    at: entry.at.toISOString(),
    organisationId: entry.organisationId,
    actor: entry.actor,
    action: entry.action,
    network: entry.network,
    postId: entry.postId,
    deliveryId: entry.deliveryId,
    remoteId: entry.remoteId,
    before: entry.before,
    after: entry.after,
    requestId: entry.requestId,
    jobId: entry.jobId,
    outcome: entry.outcome,
    error: entry.error,
    details: entry.details,
  };
}

export function auditHash(prevHash: string, body: Record<string, unknown>): string {
  return createHash('sha256')
    .update(`${prevHash}\n${canonicalJson(body)}`)
    .digest('hex');
}

/** JSON values as they will read back from the database (Dates become strings, undefined goes). */
export function jsonSafe(value: unknown): unknown {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
}

const json = (text: string | null): unknown => (text === null ? undefined : (JSON.parse(text) as unknown));
const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

export function auditFromRow(row: AuditLogTable): AuditEntry {
  const entry: AuditEntry = {
    seq: Number(row.seq),
    at: new Date(row.at),
    actor: row.actor,
    action: row.action,
    outcome: row.outcome as AuditOutcome,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
  const set = <K extends keyof AuditEntry>(key: K, value: AuditEntry[K] | undefined) => {
    if (value !== undefined) entry[key] = value;
  };
  set('organisationId', opt(row.organisation_id));
  set('network', opt(row.network) as Network | undefined);
  set('postId', opt(row.post_id));
  set('deliveryId', opt(row.delivery_id));
  set('remoteId', opt(row.remote_id));
  set('before', json(row.before));
  set('after', json(row.after));
  set('requestId', opt(row.request_id));
  set('jobId', opt(row.job_id));
  set('error', opt(row.error));
  set('details', json(row.details));
  return entry;
}

/**
 * The JSON columns hold canonical JSON: exactly the text the hash covers, so verification splices
 * it into the entry's canonical text instead of parsing and re-serialising it (verify/canonical.ts).
 */
export function auditToRow(entry: AuditEntry): AuditLogTable {
  const text = (v: unknown) => (v === undefined ? null : canonicalJson(v));
  return {
    seq: entry.seq,
    at: entry.at.toISOString(),
    organisation_id: entry.organisationId ?? null,
    actor: entry.actor,
    action: entry.action,
    network: entry.network ?? null,
    post_id: entry.postId ?? null,
    delivery_id: entry.deliveryId ?? null,
    remote_id: entry.remoteId ?? null,
    before: text(entry.before),
    after: text(entry.after),
    request_id: entry.requestId ?? null,
    job_id: entry.jobId ?? null,
    outcome: entry.outcome,
    error: entry.error ?? null,
    details: text(entry.details),
    prev_hash: entry.prevHash,
    hash: entry.hash,
  };
}

/**
 * The audit log for auditors: filters, cursor pages (by sequence number), and exports as CSV
 * or NDJSON, chosen by Accept or by ?format= (a browser link cannot set Accept).
 *
 * Verification walks the deployment's whole chain (one walk at a time, shared by the requests
 * that come meanwhile) but answers in the organisation's terms only: how many of its entries
 * are vouched for, and where the chain breaks only when the break is one of its own entries.
 * Each organisation runs one verification at a time, and `verifyPerMinute` at most.
 */
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { shareInFlight } from '@sunset/core';
import {
  auditCsvHeader,
  auditCsvRows,
  auditJson,
  auditNdjson,
  compareWithCheckpoints,
  newestCheckpoint,
  type AuditFilter,
  type AuditVerifyResult,
  type Store,
} from '@sunset/store';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { sendTooMany } from '../errors.ts';
import { recordRead } from '../reads.ts';
import { errorReplies, NetworkName } from '../schemas.ts';

/** What an organisation is told about the chain. */
export interface OrganisationVerifyResult {
  ok: boolean;
  organisationId: string;
  /** The organisation's entries verified (all of them when ok). */
  checked: number;
  /** `seq` only when the entry at fault is the organisation's own. */
  firstBad?: { seq?: number; reason: string };
  /** The log compared with the newest signed checkpoint (when the API is given the folder). */
  checkpoint?: OrganisationCheckpointResult;
}

export interface OrganisationCheckpointResult {
  ok: boolean;
  /** The checkpoint compared with: its file name, seq and time. */
  file?: string;
  seq?: number;
  at?: string;
  /** What differs for the organisation's own entries; another organisation's are not named. */
  reason?: string;
}

const CHECKPOINT_ELSEWHERE =
  'the log no longer agrees with the newest signed checkpoint (not in your entries, or deployment-wide): ' +
  'the operator must investigate (sunset audit verify --checkpoint)';

/** The newest checkpoint in `dir` compared with the store, told in one organisation's terms. */
async function checkpointForOrganisation(
  store: Store,
  checkpoints: { dir: string; key: KeyObject },
  organisationId: string,
): Promise<OrganisationCheckpointResult> {
  const newest = newestCheckpoint(checkpoints.dir, checkpoints.key);
  if (!newest)
    return { ok: false, reason: 'no checkpoint signed by the configured key in the checkpoint folder' };
  const { checkpoint: cp } = newest;
  const where = { file: path.basename(newest.file), seq: cp.seq, at: cp.at };
  const problems = await compareWithCheckpoints(store, [newest]);
  if (problems.length === 0) return { ok: true, ...where };
  const own = problems.find((p) => p.organisationId === organisationId);
  return { ok: false, ...where, reason: own ? own.reason : CHECKPOINT_ELSEWHERE };
}

const ELSEWHERE =
  'the chain is broken at an entry of another organisation, or at one that is missing: ' +
  'your entries after it cannot be vouched for until the operator repairs it (sunset audit verify on the store)';

/** The deployment's verification, told in one organisation's terms (no other's entries, no total). */
export async function verifyForOrganisation(
  store: Store,
  result: AuditVerifyResult,
  organisationId: string,
): Promise<OrganisationVerifyResult> {
  if (result.ok) {
    return {
      ok: true,
      organisationId,
      checked: await store.audit.count({ organisationId, throughSeq: result.checked }),
    };
  }
  const bad = result.firstBad ?? { seq: result.checked + 1, reason: '' };
  const checked = await store.audit.count({
    organisationId,
    throughSeq: Math.min(result.checked, bad.seq - 1),
  });
  const [entry] = await store.audit.list({ organisationId, afterSeq: bad.seq - 1, limit: 1 });
  // Only a link or content fault names the organisation's own entry and nothing else.
  const own = entry?.seq === bad.seq && /previous-hash|content/.test(bad.reason);
  return {
    ok: false,
    organisationId,
    checked,
    firstBad: own ? { seq: bad.seq, reason: bad.reason } : { reason: ELSEWHERE },
  };
}

const Query = Type.Object({
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  actor: Type.Optional(Type.String({ maxLength: 200 })),
  action: Type.Optional(Type.String({ maxLength: 100 })),
  network: Type.Optional(NetworkName),
  post: Type.Optional(Type.String({ maxLength: 100 })),
  cursor: Type.Optional(Type.Integer({ minimum: 0, description: 'the nextCursor of the previous page' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 100 })),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv'), Type.Literal('ndjson')])),
});

export async function auditRoutes(
  app: FastifyInstance,
  options: { verifyPerMinute: number; checkpoints?: { dir: string; key: KeyObject } },
) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const walk = shareInFlight((_chain: 'chain') => app.store.verifyAudit());
  /** Per organisation: whether one runs, and when the last minute's started. */
  const verifying = new Map<string, { running: boolean; started: number[] }>();
  r.get(
    '/audit',
    {
      onRequest: app.requireRole('auditor'),
      schema: {
        tags: ['audit'],
        summary:
          'Audit entries, oldest first, with filters; JSON, CSV (Accept: text/csv) or NDJSON (application/x-ndjson)',
        querystring: Query,
        response: {
          200: Type.Object({
            entries: Type.Array(Type.Unknown()),
            nextCursor: Type.Optional(Type.Integer()),
          }),
          ...errorReplies(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const { organisationId } = principalOf(request);
      const q = request.query;
      const limit = q.limit ?? 100;
      const filter: AuditFilter = {
        organisationId,
        ...(q.from ? { from: new Date(q.from) } : {}),
        ...(q.to ? { to: new Date(q.to) } : {}),
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(q.network ? { network: q.network } : {}),
        ...(q.post ? { postId: q.post } : {}),
        ...(q.cursor !== undefined ? { afterSeq: q.cursor } : {}),
        limit,
      };
      const entries = await app.store.audit.list(filter);
      recordRead(app, request, { audit: { ...q } });
      const accept = request.headers.accept ?? '';
      const format =
        q.format ?? (accept.includes('text/csv') ? 'csv' : accept.includes('ndjson') ? 'ndjson' : 'json');
      const next = entries.length === limit ? entries[entries.length - 1]?.seq : undefined;
      if (next !== undefined) void reply.header('x-next-cursor', String(next));
      if (format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="audit-${organisationId}.csv"`)
          .send((auditCsvHeader() + auditCsvRows(entries)) as never);
      }
      if (format === 'ndjson') {
        return reply.type('application/x-ndjson; charset=utf-8').send(auditNdjson(entries) as never);
      }
      return { entries: entries.map(auditJson), ...(next !== undefined ? { nextCursor: next } : {}) };
    },
  );

  r.get(
    '/audit/verify',
    {
      onRequest: app.requireRole('auditor'),
      schema: {
        tags: ['audit'],
        summary:
          "Recompute the hash chain; counts the organisation's own entries, and names the first bad one if it is the organisation's",
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            organisationId: Type.String(),
            checked: Type.Integer({ description: "the organisation's entries verified" }),
            firstBad: Type.Optional(
              Type.Object({ seq: Type.Optional(Type.Integer()), reason: Type.String() }),
            ),
            checkpoint: Type.Optional(
              Type.Object({
                ok: Type.Boolean(),
                file: Type.Optional(Type.String()),
                seq: Type.Optional(Type.Integer()),
                at: Type.Optional(Type.String()),
                reason: Type.Optional(Type.String()),
              }),
            ),
            ms: Type.Integer(),
          }),
          ...errorReplies(401, 403, 429),
        },
      },
    },
    async (request, reply) => {
      const { organisationId } = principalOf(request);
      const now = Date.now();
      const state = verifying.get(organisationId) ?? { running: false, started: [] };
      state.started = state.started.filter((at) => now - at < 60_000);
      if (state.running) {
        return sendTooMany(
          request,
          reply,
          5,
          'too-many-verifications',
          `an audit verification of ${organisationId} is already under way; try again when it has finished`,
        );
      }
      if (state.started.length >= options.verifyPerMinute) {
        const wait = Math.max(1, Math.ceil((state.started[0]! + 60_000 - now) / 1000));
        return sendTooMany(
          request,
          reply,
          wait,
          'too-many-verifications',
          `at most ${options.verifyPerMinute} audit verifications per minute for an organisation; try again in ${wait} s`,
        );
      }
      state.running = true;
      state.started.push(now);
      verifying.set(organisationId, state);
      try {
        const result = await verifyForOrganisation(app.store, await walk('chain'), organisationId);
        if (options.checkpoints) {
          const checkpoint = await checkpointForOrganisation(app.store, options.checkpoints, organisationId);
          result.checkpoint = checkpoint;
          result.ok &&= checkpoint.ok;
        }
        recordRead(app, request, { verify: result.ok });
        return { ...result, ms: Date.now() - now };
      } finally {
        state.running = false;
      }
    },
  );
}

/**
 * The audit log for auditors: filters, cursor pages (by sequence number), and exports as CSV
 * or NDJSON, chosen by Accept or by ?format= (a browser link cannot set Accept).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { auditCsvHeader, auditCsvRows, auditJson, auditNdjson, type AuditFilter } from '@sunset/store';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { recordRead } from '../reads.ts';
import { ErrorReply, NetworkName } from '../schemas.ts';

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

export async function auditRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
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
          400: ErrorReply,
          401: ErrorReply,
          403: ErrorReply,
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
        summary: 'Recompute the whole hash chain; names the first entry that does not match',
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            checked: Type.Integer(),
            firstBad: Type.Optional(Type.Object({ seq: Type.Integer(), reason: Type.String() })),
            ms: Type.Integer(),
          }),
          401: ErrorReply,
          403: ErrorReply,
        },
      },
    },
    async (request) => {
      const started = Date.now();
      const result = await app.store.verifyAudit();
      recordRead(app, request, { verify: result.ok });
      return { ...result, ms: Date.now() - started };
    },
  );
}

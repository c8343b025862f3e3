/**
 * Reads are token uses too: each authenticated read is in the audit log (who looked at what,
 * when), written after the answer so that a slow store never delays it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOf } from './auth.ts';

export function recordRead(
  app: FastifyInstance,
  request: FastifyRequest,
  what: Record<string, unknown>,
): void {
  const principal = principalOf(request);
  void app.store.audit
    .append({
      organisationId: principal.organisationId,
      actor: principal.actor,
      action: 'api.read',
      requestId: request.id,
      outcome: 'ok',
      details: { method: request.method, route: request.routeOptions.url, ...what },
    })
    .catch((err: unknown) => request.log.warn({ err }, 'could not record a read in the audit log'));
}

/**
 * The queue (GET /v1/queue): what is still to go out, waits for a second person, or failed, with
 * each network's state; and POST /v1/deliveries/:id/retry for a failed or needs-attention one.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '@sunset/core';
import { queueListing, retryDelivery, type QueueNetwork } from '@sunset/engine/outbox';
import type { TokenRole } from '@sunset/store';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { recordRead } from '../reads.ts';
import { DeliveryStatusName, errorReplies, NetworkName } from '../schemas.ts';

const QueueNetworkReply = Type.Object({
  deliveryId: Type.String(),
  status: DeliveryStatusName,
  dueAt: Type.String({ format: 'date-time' }),
  parts: Type.Integer(),
  published: Type.Integer(),
  attempts: Type.Integer(),
  lastError: Type.Optional(Type.String()),
  checklist: Type.Optional(Type.Array(Type.String())),
  retry: Type.Object({
    allowed: Type.Boolean({ description: 'POST /v1/deliveries/:id/retry takes it' }),
    reason: Type.Optional(Type.String({ description: 'Why not' })),
  }),
});

const QueueItemReply = Type.Object({
  key: Type.String({ description: '`post:<id>` for a post, the action key for a plan step (profile.x…)' }),
  kind: Type.String({ description: 'post, profile, policy or audience' }),
  source: Type.String({ description: 'plan, ordinary or crisis' }),
  postId: Type.Optional(Type.String()),
  at: Type.String({ format: 'date-time', description: 'When it is due (its earliest network)' }),
  state: Type.Union([Type.Literal('accepted'), Type.Literal('awaiting-approval')]),
  text: Type.String(),
  variants: Type.Optional(Type.Record(Type.String(), Type.String())),
  language: Type.Optional(Type.String()),
  images: Type.Array(Type.Object({ sha256: Type.String(), mediaType: Type.String(), alt: Type.String() })),
  sentBy: Type.Optional(Type.String({ description: 'The person who sent it' })),
  targets: Type.Array(NetworkName, { description: 'The networks it goes to' }),
  editable: Type.Boolean({
    description: 'PATCH and DELETE /v1/posts/:id take it (nothing of it has gone out)',
  }),
  networks: Type.Object({
    x: Type.Optional(QueueNetworkReply),
    bluesky: Type.Optional(QueueNetworkReply),
    mastodon: Type.Optional(QueueNetworkReply),
  }),
});

function networkReply(n: QueueNetwork) {
  return {
    deliveryId: n.deliveryId,
    status: n.status,
    dueAt: n.dueAt.toISOString(),
    parts: n.parts,
    published: n.published,
    attempts: n.attempts,
    ...(n.lastError ? { lastError: n.lastError } : {}),
    ...(n.checklist ? { checklist: n.checklist } : {}),
    retry: n.retry.allowed ? { allowed: true } : { allowed: false, reason: n.retry.reason },
  };
}

/** Who may retry a delivery, by where it came from (admin always). */
const RETRY_ROLES: Record<string, TokenRole> = { ordinary: 'editor', crisis: 'crisis', plan: 'planner' };

export async function queueRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/queue',
    {
      onRequest: app.requireRole('editor', 'crisis', 'auditor', 'planner'),
      schema: {
        tags: ['posts'],
        summary: 'What is still to go out: plan steps, ordinary and crisis posts, posts awaiting approval',
        description:
          'One item per post (or plan step), soonest first, with each network still open: queued, sending, ' +
          'failed or needs-attention, with the reason and whether a retry makes sense. `from` and `to` narrow ' +
          'it to items due between them (default: from a week ago).',
        querystring: Type.Object({
          from: Type.Optional(Type.String({ format: 'date-time' })),
          to: Type.Optional(Type.String({ format: 'date-time' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 200 })),
        }),
        response: {
          200: Type.Object({ items: Type.Array(QueueItemReply) }),
          ...errorReplies(400, 401, 403),
        },
      },
    },
    async (request) => {
      const { organisationId } = principalOf(request);
      const q = request.query;
      const from = q.from ? new Date(q.from) : new Date(Date.now() - 7 * 86_400_000);
      const to = q.to ? new Date(q.to) : undefined;
      if (to && to.getTime() < from.getTime()) throw new HttpError(400, 'invalid', 'to: before from');
      const items = await queueListing(app.store, organisationId, {
        from,
        ...(to ? { to } : {}),
        limit: q.limit ?? 200,
      });
      recordRead(app, request, { list: 'queue' });
      return {
        items: items.map((i) => ({
          ...i,
          at: i.at.toISOString(),
          variants: i.variants as Record<string, string> | undefined,
          networks: Object.fromEntries(Object.entries(i.networks).map(([n, s]) => [n, networkReply(s)])),
        })),
      };
    },
  );

  r.post(
    '/deliveries/:id/retry',
    {
      onRequest: app.requireRole('editor', 'crisis', 'planner'),
      schema: {
        tags: ['posts'],
        summary: 'Queue a failed or needs-attention delivery again, from the part it had reached',
        description:
          'Editors retry ordinary posts, the crisis cell crisis posts, planners plan steps. Refused (409) for ' +
          'any other status, for a delivery held while X is paused for credits (resume X instead) and for a ' +
          'cancelled post. A new job with fresh attempts; audited as delivery.retried.',
        params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9._~-]{1,300}$' }) }),
        response: {
          202: Type.Object({
            deliveryId: Type.String(),
            network: NetworkName,
            status: Type.Literal('queued'),
            jobId: Type.String(),
            notes: Type.Array(Type.String()),
          }),
          ...errorReplies(400, 401, 403, 404, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const d = await app.store.deliveries.get(request.params.id);
      if (!d || d.organisationId !== principal.organisationId)
        throw new HttpError(404, 'not-found', 'there is no delivery with this id');
      const role = RETRY_ROLES[d.source];
      if (principal.token.role !== 'admin' && principal.token.role !== role) {
        throw new HttpError(
          403,
          'forbidden',
          `only the ${role} role (or admin) retries ${d.source} deliveries`,
        );
      }
      const result = await retryDelivery(
        { store: app.store, queues: app.queues, settings: app.settings, logger: app.log as Logger },
        {
          organisationId: principal.organisationId,
          deliveryId: d.id,
          actor: principal.actor,
          person: principal.person,
          requestId: request.id,
        },
        d,
      );
      return reply.status(202).send({
        deliveryId: d.id,
        network: d.network,
        status: 'queued' as const,
        jobId: result.jobId,
        notes: result.notes,
      });
    },
  );
}

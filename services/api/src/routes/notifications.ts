/**
 * GET /v1/notifications and PUT /v1/notifications/routes: the admin role sees the channels the
 * operator set for its organisation (never their secrets) and chooses which event goes to which
 * channel and whom. The channels, the secrets and the persons' addresses stay the operator's.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import {
  describeChannel,
  notificationRoutes,
  NOTIFY_EVENTS,
  RECIPIENT_GROUPS,
  setNotificationRoutes,
  type NotificationSettings,
} from '@sunset/engine/outbox';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { errorReplies } from '../schemas.ts';

const Route = Type.Object(
  {
    channel: Type.String({ description: "A channel's name, as the operator set it" }),
    to: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'E-mail channels: person names, "approvers" (who can approve, not the sender) or "everyone"',
      }),
    ),
  },
  { additionalProperties: false },
);

const Routes = Type.Record(Type.String(), Type.Array(Route), {
  description: `Event → where it goes. Events: ${NOTIFY_EVENTS.join(', ')}`,
});

const NotificationsReply = Type.Object({
  events: Type.Array(Type.String()),
  channels: Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown())),
  persons: Type.Array(Type.String(), {
    description: 'Persons with an e-mail address in the operator settings',
  }),
  recipientGroups: Type.Array(Type.String()),
  routes: Routes,
  setBy: Type.Union([Type.Literal('admin'), Type.Literal('operator')]),
});

export async function notificationRoutesPlugin(
  app: FastifyInstance,
  options: { settings: NotificationSettings },
) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const view = async (organisationId: string) => {
    const org = options.settings.organisations[organisationId];
    const { routes, setBy } = await notificationRoutes(app.store, options.settings, organisationId);
    return {
      events: [...NOTIFY_EVENTS],
      channels: Object.fromEntries(
        Object.entries(org?.channels ?? {}).map(([name, c]) => [name, describeChannel(c)]),
      ),
      persons: Object.keys(org?.persons ?? {}).sort(),
      recipientGroups: [...RECIPIENT_GROUPS],
      routes,
      setBy,
    };
  };

  r.get(
    '/notifications',
    {
      onRequest: app.requireRole('admin'),
      schema: {
        tags: ['notifications'],
        summary: 'The channels the operator set, the persons, and which event goes where',
        response: { 200: NotificationsReply, ...errorReplies(401, 403) },
      },
    },
    async (request) => view(principalOf(request).organisationId),
  );

  r.put(
    '/notifications/routes',
    {
      onRequest: app.requireRole('admin'),
      schema: {
        tags: ['notifications'],
        summary: 'Which event goes to which channel and whom (replaces the routes in force)',
        body: Type.Object({ routes: Routes }, { additionalProperties: false }),
        response: { 200: NotificationsReply, ...errorReplies(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      await setNotificationRoutes(app.store, options.settings, {
        organisationId: principal.organisationId,
        routes: request.body.routes,
        actor: principal.actor,
        person: principal.person,
        requestId: request.id,
      });
      return view(principal.organisationId);
    },
  );
}

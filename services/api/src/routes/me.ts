/** GET /v1/me: who a token is (the dashboard's sign-in check). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { errorReplies } from '../schemas.ts';

export async function meRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/me',
    {
      onRequest: app.requireRole('admin', 'planner', 'editor', 'crisis', 'auditor'),
      schema: {
        tags: ['auth'],
        summary: "The token's organisation, name, person and role",
        response: {
          200: Type.Object({
            organisationId: Type.String(),
            organisationName: Type.Optional(Type.String()),
            name: Type.String(),
            person: Type.String({ description: 'Who holds the token' }),
            role: Type.String(),
          }),
          ...errorReplies(401, 429),
        },
      },
    },
    async (request) => {
      const { token } = principalOf(request);
      const org = await app.store.organisations.get(token.organisationId);
      return {
        organisationId: token.organisationId,
        ...(org ? { organisationName: org.name } : {}),
        name: token.name,
        person: token.person,
        role: token.role,
      };
    },
  );
}

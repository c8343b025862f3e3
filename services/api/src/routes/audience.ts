/**
 * What the worker's watch keeps, for every role of the organisation: GET /v1/audience/followers
 * (each network's follower history, first and latest reading, the sunset the dashboard marks)
 * and GET /v1/audience/identity (the identity checks' runs, newest first).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { followerStats, NoPlanError, type OrgSettings } from '@sunset/engine/outbox';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { errorReplies } from '../schemas.ts';

const ANY_ROLE = ['admin', 'planner', 'editor', 'crisis', 'auditor'] as const;

const Point = Type.Object({
  at: Type.String({ format: 'date-time' }),
  count: Type.Integer({ minimum: 0 }),
});

const FollowersReply = Type.Object({
  organisationId: Type.String(),
  sunset: Type.Optional(Type.String({ format: 'date-time', description: "The plan's sunset." })),
  networks: Type.Array(
    Type.Object({
      network: Type.Union([Type.Literal('x'), Type.Literal('bluesky'), Type.Literal('mastodon')]),
      first: Type.Optional(Point),
      latest: Type.Optional(Point),
      change: Type.Optional(Type.Integer({ description: 'latest − first' })),
      task: Type.Optional(
        Type.Object({
          status: Type.Optional(
            Type.String({ description: 'ok, skipped (X: the budget keeps its reserve) or error' }),
          ),
          message: Type.Optional(Type.String()),
          ranAt: Type.Optional(Type.String({ format: 'date-time' })),
          nextAt: Type.Optional(Type.String({ format: 'date-time' })),
        }),
      ),
      history: Type.Array(Point),
    }),
  ),
});

const IdentityReply = Type.Object({
  runs: Type.Array(
    Type.Object({
      at: Type.String({ format: 'date-time' }),
      failed: Type.Integer({ minimum: 0 }),
      results: Type.Array(
        Type.Object({
          check: Type.String({ description: 'bluesky-domain, mastodon-link or x-profile' }),
          subject: Type.String(),
          status: Type.String({ description: 'ok, failed or unknown (the check could not be made)' }),
          message: Type.String(),
        }),
      ),
    }),
  ),
});

async function settingsOf(app: FastifyInstance, organisationId: string): Promise<OrgSettings | undefined> {
  try {
    return await app.settings.get(organisationId);
  } catch (err) {
    if (err instanceof NoPlanError) return undefined;
    throw err;
  }
}

export async function audienceRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/audience/followers',
    {
      onRequest: app.requireRole(...ANY_ROLE),
      schema: {
        tags: ['audience'],
        summary: 'Follower counts over time, per network, with the sunset',
        description:
          "Read by the worker: Bluesky and Mastodon hourly, X daily and only while the month's spend stays out of the " +
          "plan's crisis reserve (a user read is billed). `since` leaves out older readings.",
        querystring: Type.Object({
          since: Type.Optional(
            Type.String({ description: 'An ISO 8601 instant, e.g. 2026-11-01T00:00:00Z' }),
          ),
        }),
        response: { 200: FollowersReply, ...errorReplies(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const { organisationId } = principalOf(request);
      const raw = request.query.since;
      const since = raw === undefined ? undefined : new Date(raw);
      if (since && (Number.isNaN(since.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(raw ?? ''))) {
        throw new HttpError(400, 'bad-since', 'since: an ISO 8601 instant, e.g. 2026-11-01T00:00:00Z');
      }
      return followerStats(
        app.store,
        organisationId,
        await settingsOf(app, organisationId),
        since ? { since } : {},
      );
    },
  );

  r.get(
    '/audience/identity',
    {
      onRequest: app.requireRole(...ANY_ROLE),
      schema: {
        tags: ['audience'],
        summary: "The identity checks' runs, newest first (the worker runs them daily)",
        description:
          'Each run: the Bluesky handle\'s domain proof, each Mastodon profile link\'s rel="me" back-link, and the dormant ' +
          'X profile against what the plan set. A failed check is also sent as the notification identity.check-failed.',
        response: { 200: IdentityReply, ...errorReplies(401, 403, 429) },
      },
    },
    async (request) => {
      const { organisationId } = principalOf(request);
      const runs = await app.store.watch.identityChecks(organisationId, 30);
      return {
        runs: runs.map((run) => ({
          at: run.at.toISOString(),
          failed: run.failed,
          results: run.results.map((res) => ({
            check: String(res['check'] ?? ''),
            subject: String(res['subject'] ?? ''),
            status: String(res['status'] ?? ''),
            message: String(res['message'] ?? ''),
          })),
        })),
      };
    },
  );
}

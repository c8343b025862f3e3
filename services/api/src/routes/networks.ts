/**
 * GET /v1/networks/x (where X stands: paused or not, the month's spend against the budget, the
 * 24-hour caps) and POST /v1/networks/x/resume (what `sunset networks resume x` does).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { NoPlanError, resumeX, xStatus, type OrgSettings } from '@sunset/engine/outbox';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { errorReplies } from '../schemas.ts';

const Usd = (description: string) => Type.Number({ minimum: 0, description: `${description}, in USD` });

const XStatusReply = Type.Object({
  paused: Type.Boolean({ description: 'Ordinary X posts wait for a resume; crisis posts still try X.' }),
  pausedSince: Type.Optional(Type.String({ format: 'date-time' })),
  pausedReason: Type.Optional(Type.String()),
  held: Type.Integer({ description: 'Ordinary X posts held for a person, sent again on resume.' }),
  month: Type.Object({
    since: Type.String({ format: 'date-time', description: 'The calendar month (UTC) counted.' }),
    spent: Usd('What X charged this month for what was sent and read'),
    budget: Type.Optional(Usd("The plan's monthly budget (networks.x.budget.monthly)")),
    reserve: Type.Optional(Usd('Kept for crisis posts (networks.x.budget.crisis_reserve)')),
    currency: Type.Literal('USD'),
  }),
  window: Type.Object({
    since: Type.String({ format: 'date-time', description: 'The rolling 24 hours counted.' }),
    originals: Type.Integer(),
    replies: Type.Integer(),
    caps: Type.Optional(
      Type.Object({
        posts: Type.Integer(),
        replies: Type.Integer(),
        crisisReserve: Type.Integer({ description: 'Originals kept for crisis posts.' }),
      }),
    ),
    postsLeft: Type.Optional(Type.Integer({ description: 'Originals left, crisis ones included.' })),
    ordinaryPostsLeft: Type.Optional(Type.Integer({ description: 'Originals left for ordinary posts.' })),
    repliesLeft: Type.Optional(Type.Integer()),
  }),
});

const ResumeReply = Type.Object({
  wasPaused: Type.Boolean(),
  requeued: Type.Integer({ description: 'Held X posts queued again.' }),
});

const MICRO = 1_000_000;

/** The organisation's settings, or undefined before its first plan (X's state is shown all the same). */
async function settingsOf(app: FastifyInstance, organisationId: string): Promise<OrgSettings | undefined> {
  try {
    return await app.settings.get(organisationId);
  } catch (err) {
    if (err instanceof NoPlanError) return undefined;
    throw err;
  }
}

export async function networkRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/networks/x',
    {
      onRequest: app.requireRole('admin', 'planner', 'editor', 'crisis', 'auditor'),
      schema: {
        tags: ['networks'],
        summary: "Where X stands: paused for credits or not, the month's spend, the 24-hour caps",
        description:
          "Spend counts what was sent and read on X this calendar month (UTC) at the operator's prices; budget and " +
          "reserve are the plan's networks.x.budget, caps its networks.x.daily_caps (left out when the plan sets none).",
        response: { 200: XStatusReply, ...errorReplies(401, 403, 429) },
      },
    },
    async (request) => {
      const { organisationId } = principalOf(request);
      const settings = await settingsOf(app, organisationId);
      const s = await xStatus(app.store, organisationId, settings?.document.networks.x, new Date());
      const usd = (micros: number) => micros / MICRO;
      return {
        paused: s.paused !== undefined,
        ...(s.paused ? { pausedSince: s.paused.since, pausedReason: s.paused.reason } : {}),
        held: s.held,
        month: {
          since: s.month.since,
          spent: usd(s.month.spentMicros),
          ...(s.month.budgetMicros !== undefined ? { budget: usd(s.month.budgetMicros) } : {}),
          ...(s.month.reserveMicros !== undefined ? { reserve: usd(s.month.reserveMicros) } : {}),
          currency: 'USD' as const,
        },
        window: s.window,
      };
    },
  );

  r.post(
    '/networks/x/resume',
    {
      onRequest: app.requireRole('admin'),
      schema: {
        tags: ['networks'],
        summary: 'Resume X after credits were bought: held ordinary X posts are queued again (audited)',
        description:
          'The same as `sunset networks resume x <org>`. 409 x-not-paused when X is not paused and no X post is held.',
        response: { 200: ResumeReply, ...errorReplies(401, 403, 409, 429, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const s = await xStatus(app.store, principal.organisationId, undefined, new Date());
      if (!s.paused && s.held === 0) {
        throw new HttpError(409, 'x-not-paused', 'X is not paused and no X post is held: nothing to resume');
      }
      return resumeX({
        store: app.store,
        ...(app.queues?.ready() ? { queues: app.queues } : {}),
        organisationId: principal.organisationId,
        actor: principal.actor,
      });
    },
  );
}

/**
 * The crisis endpoint: JSON from a person or CAP (1.2 or 1.1) from the alerting system. A crisis reaches
 * every crisis network of the plan (X too after the sunset, unless frozen) with top priority;
 * CAP Update and Cancel go under the original; Test, Exercise and Draft are kept, not posted.
 * The 202 comes only once the post is stored and queued; otherwise 503, and nothing goes out.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger, Network } from '@sunset/core';
import {
  approveCrisis,
  capSubmission,
  CAP_TYPES,
  feedListing,
  preview,
  submitPost,
  type SubmitPostInput,
  type XPriceTable,
} from '@sunset/engine/outbox';
import { Type, type Static } from 'typebox';
import { principalOf } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { errorReplies, Language, NetworkName, PostReply, SubmitReply, Variants } from '../schemas.ts';
import { listPosts, loadPost, submitReply } from './posts.ts';
import { PreviewReply, previewReply } from './preview.ts';

const CAP_LIMIT = 256 * 1024;

const CrisisBody = Type.Object(
  {
    text: Type.String({
      minLength: 1,
      maxLength: 20_000,
      description: 'The message; never truncated (long ones become threads).',
    }),
    variants: Type.Optional(Variants),
    link: Type.Optional(
      Type.String({
        pattern: '^https?://\\S+$',
        maxLength: 2000,
        description: "Official page; default the plan's crisis.link",
      }),
    ),
    language: Type.Optional(Language),
    networks: Type.Optional(Type.Array(NetworkName, { minItems: 1, uniqueItems: true })),
    replyTo: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9._~-]{1,100}$', description: 'A crisis post this one follows up' }),
    ),
  },
  { additionalProperties: false },
);

const Time = Type.String({ format: 'date-time' });

const FeedAlertReply = Type.Object({
  sender: Type.String(),
  identifier: Type.String(),
  sent: Type.String(),
  msgType: Type.String(),
  kept: Type.Boolean({ description: 'true: a crisis post was made; false: filtered out, see reason' }),
  reason: Type.String(),
  seenAt: Time,
  postId: Type.Optional(Type.String()),
  crisis: Type.Optional(Type.String({ description: 'The crisis post it became: /v1/crisis/<id>' })),
  event: Type.Optional(Type.String()),
  severity: Type.Optional(Type.String()),
  headline: Type.Optional(Type.String()),
  expires: Type.Optional(Type.String()),
  awarenessLevel: Type.Optional(Type.String({ description: "MeteoAlarm's colour: yellow, orange, red" })),
  awarenessType: Type.Optional(
    Type.String({ description: "MeteoAlarm's awareness type: Wind, Thunderstorm…" }),
  ),
  areas: Type.Array(Type.String()),
  geocodes: Type.Array(Type.String()),
});

const FeedReply = Type.Object({
  url: Type.String(),
  feedId: Type.String(),
  mode: Type.Union([Type.Literal('approve'), Type.Literal('post')]),
  state: Type.Optional(
    Type.Object({
      status: Type.Optional(Type.String({ description: 'ok, not-modified (304) or error' })),
      polledAt: Type.Optional(Time),
      okAt: Type.Optional(Time),
      nextPollAt: Type.Optional(Time),
      errors: Type.Integer({ description: 'Reads that failed in a row; the feed backs off meanwhile' }),
      lastError: Type.Optional(Type.String()),
    }),
  ),
  alerts: Type.Array(FeedAlertReply),
});

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const opt = <K extends string>(key: K, v: string | undefined) =>
  (v === undefined ? {} : { [key]: v }) as Partial<Record<K, string>>;

const Id = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9._~-]{1,100}$' }) });

/** A crisis body's content type: JSON, or one of the CAP types; any other is refused with 415. */
function crisisContentType(request: FastifyRequest): 'json' | 'cap' {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') return 'json';
  if (CAP_TYPES.includes(type)) return 'cap';
  throw new HttpError(
    415,
    'unsupported-media-type',
    `send application/json or application/cap+xml, not ${type || 'no Content-Type'}`,
  );
}

/** What a JSON crisis body asks for, as the engine takes it. */
function jsonCrisis(body: Static<typeof CrisisBody>) {
  return {
    source: 'crisis' as const,
    text: body.text,
    ...(body.variants ? { variants: body.variants as Partial<Record<Network, string>> } : {}),
    ...(body.link ? { link: body.link } : {}),
    ...(body.language ? { language: body.language } : {}),
    ...(body.networks ? { networks: body.networks } : {}),
    ...(body.replyTo ? { replyToPostId: body.replyTo } : {}),
  };
}

// One schema per content type: JSON is checked field by field; CAP is checked by its parser.
const CrisisContent = {
  content: {
    'application/json': { schema: CrisisBody },
    ...Object.fromEntries(
      CAP_TYPES.map((t) => [t, { schema: Type.Unknown({ description: 'A CAP 1.2 or 1.1 alert' }) }]),
    ),
  },
};

export async function crisisRoutes(app: FastifyInstance, options: { xPrices?: XPriceTable } = {}) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // CAP arrives as bytes: the parser checks the size, the encoding and the structure itself.
  app.addContentTypeParser(CAP_TYPES, { parseAs: 'buffer', bodyLimit: CAP_LIMIT }, (_request, body, done) =>
    done(null, body),
  );

  r.post(
    '/crisis',
    {
      onRequest: app.requireRole('crisis'),
      schema: {
        tags: ['crisis'],
        summary: 'Send a crisis message (JSON, or a CAP 1.2 or 1.1 alert as application/cap+xml)',
        description:
          'JSON: text, optional per-network variants, link, language, networks, replyTo. CAP 1.2 or 1.1: the <info> block ' +
          "in the plan's language (crisis.cap.languages, default the plan's locale then English) gives the text from its " +
          'headline, description, instruction and web; Update and Cancel are posted as replies under the original (matched ' +
          "by references), one without <info> as the plan's standard sentence; status Test, Exercise and Draft and an " +
          "expired alert are recorded and never posted. The plan's crisis label, link and hashtags are applied. 202 only " +
          'once stored and queued; 503 when the store or Redis is down.',
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,200}$' })),
        }),
        body: CrisisContent,
        response: {
          202: SubmitReply,
          ...errorReplies(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const common = {
        organisationId: principal.organisationId,
        actor: principal.actor,
        person: principal.person,
        requestId: request.id,
        planVersion: principal.planVersion,
      };
      let input: SubmitPostInput;
      if (crisisContentType(request) === 'cap') {
        const settings = await app.settings.ofLatest(principal.organisationId, principal.planVersion);
        input = await capSubmission(
          app.store,
          request.body as Buffer,
          settings.document,
          common,
          request.headers['content-type'],
        );
      } else {
        input = {
          ...common,
          ...jsonCrisis(request.body as Static<typeof CrisisBody>),
          ...(request.headers['idempotency-key'] ? { clientKey: request.headers['idempotency-key'] } : {}),
        };
      }
      const result = await submitPost(
        { store: app.store, queues: app.queues, settings: app.settings, logger: app.log as Logger },
        input,
      );
      return reply.status(202).send(submitReply(result, `/v1/crisis/${result.postId}`));
    },
  );

  r.post(
    '/crisis/preview',
    {
      onRequest: app.requireRole('crisis'),
      schema: {
        tags: ['crisis'],
        summary:
          'How a crisis message (JSON or CAP) will read on each network it goes to, with lengths and thread parts; nothing is sent',
        description:
          'The same choice as POST /v1/crisis: networks the sunset policy refuses now, networks a follow-up ' +
          "(replyTo) cannot go to because its original did not, and a record-only CAP message's networks are " +
          'left out, with the reason in notes.',
        body: CrisisContent,
        response: {
          200: PreviewReply,
          ...errorReplies(400, 401, 403, 409, 413, 415, 422),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { organisationId } = principal;
      // The same reading of CAP as the send: same parser, same block, same text, same notes.
      const input =
        crisisContentType(request) === 'cap'
          ? await capSubmission(
              app.store,
              request.body as Buffer,
              (await app.settings.get(organisationId)).document,
              { organisationId, actor: principal.actor },
              request.headers['content-type'],
            )
          : { organisationId, ...jsonCrisis(request.body as Static<typeof CrisisBody>) };
      const result = await preview(
        {
          store: app.store,
          settings: app.settings,
          ...(options.xPrices ? { xPrices: options.xPrices } : {}),
        },
        input,
      );
      return previewReply(result);
    },
  );

  r.get(
    '/crisis',
    {
      onRequest: app.requireRole('crisis', 'auditor', 'editor', 'planner'),
      schema: {
        tags: ['crisis'],
        summary: 'Crisis history, newest first',
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
          before: Type.Optional(Type.String({ format: 'date-time' })),
        }),
        response: {
          200: Type.Object({ posts: Type.Array(PostReply) }),
          ...errorReplies(400, 401, 403),
        },
      },
    },
    async (request) => listPosts(app, request, 'crisis', request.query),
  );

  r.get(
    '/crisis/feeds',
    {
      onRequest: app.requireRole('crisis', 'auditor'),
      schema: {
        tags: ['crisis'],
        summary: "The CAP feeds of the organisation's plan (crisis.feeds), and the alerts seen in each",
        description:
          'Per feed: when it was read, its errors and back-off, and each alert (sender, identifier) seen, newest ' +
          'first: kept (the crisis post it became, awaiting approval or posted) or filtered out, with the reason.',
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
        }),
        response: {
          200: Type.Object({ feeds: Type.Array(FeedReply) }),
          ...errorReplies(400, 401, 403, 409),
        },
      },
    },
    async (request) => {
      const { organisationId } = principalOf(request);
      const listing = await feedListing(app.store, app.settings, organisationId, request.query.limit);
      return {
        feeds: listing.map((feed) => ({
          url: feed.url,
          feedId: feed.feedId,
          mode: feed.mode,
          ...(feed.state
            ? {
                state: {
                  ...opt('status', feed.state.status),
                  ...opt('polledAt', feed.state.polledAt?.toISOString()),
                  ...opt('okAt', feed.state.okAt?.toISOString()),
                  ...opt('nextPollAt', feed.state.nextPollAt?.toISOString()),
                  errors: feed.state.errors,
                  ...opt('lastError', feed.state.lastError),
                },
              }
            : {}),
          alerts: feed.alerts.map((a) => ({
            sender: a.sender,
            identifier: a.identifier,
            sent: a.sent,
            msgType: a.msgType,
            kept: a.kept,
            reason: a.reason,
            seenAt: a.seenAt.toISOString(),
            ...(a.postId ? { postId: a.postId, crisis: `/v1/crisis/${a.postId}` } : {}),
            ...opt('event', str(a.details['event'])),
            ...opt('severity', str(a.details['severity'])),
            ...opt('headline', str(a.details['headline'])),
            ...opt('expires', str(a.details['expires'])),
            ...opt('awarenessLevel', str(a.details['awarenessLevel'])),
            ...opt('awarenessType', str(a.details['awarenessType'])),
            areas: strings(a.details['areas']),
            geocodes: strings(a.details['geocodes']),
          })),
        })),
      };
    },
  );

  r.get(
    '/crisis/:id',
    {
      onRequest: app.requireRole('crisis', 'auditor', 'editor', 'planner'),
      schema: {
        tags: ['crisis'],
        summary: 'A crisis post and its state and links on every network',
        params: Id,
        response: { 200: PostReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => loadPost(app, request, request.params.id, 'crisis'),
  );

  r.post(
    '/crisis/:id/approve',
    {
      onRequest: app.requireRole('crisis'),
      schema: {
        tags: ['crisis'],
        summary: 'Approve a crisis post waiting for a second person (approval: second-person)',
        description:
          'Refused with 409 crisis-expired once the CAP alert it came from has expired: it stays recorded, never posted.',
        params: Id,
        response: {
          202: SubmitReply,
          ...errorReplies(400, 401, 403, 404, 409, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const result = await approveCrisis(
        { store: app.store, queues: app.queues, settings: app.settings },
        {
          organisationId: principal.organisationId,
          postId: request.params.id,
          actor: principal.actor,
          person: principal.person,
          requestId: request.id,
        },
      );
      return reply.status(202).send(submitReply(result, `/v1/crisis/${result.postId}`));
    },
  );
}

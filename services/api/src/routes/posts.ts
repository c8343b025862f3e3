/** POST /v1/posts (an ordinary post, mirrored) and GET /v1/posts, /v1/posts/:id. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger, Network } from '@sunset/core';
import {
  approvePost,
  cancelPost,
  editPost,
  findPostState,
  preview,
  postState,
  submitPost,
  type PostChangeResult,
  type PostState,
  type SubmitResult,
  type XPriceTable,
} from '@sunset/engine/outbox';
import { Type, type Static } from 'typebox';
import { principalOf } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { recordRead } from '../reads.ts';
import {
  errorReplies,
  ImageInput,
  Language,
  NetworkName,
  PostReply,
  SubmitReply,
  Variants,
} from '../schemas.ts';
import { PreviewReply, previewReply } from './preview.ts';

const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      pattern: '^[\\x21-\\x7e]{1,200}$',
      description: 'Send the same key again on a retry: the post is never made twice.',
    }),
  ),
});

const PostBody = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 20_000 }),
    variants: Type.Optional(Variants),
    networks: Type.Optional(Type.Array(NetworkName, { minItems: 1, uniqueItems: true })),
    language: Type.Optional(Language),
    at: Type.Optional(Type.String({ format: 'date-time', description: 'When to post (default now)' })),
    images: Type.Optional(Type.Array(ImageInput, { maxItems: 4 })),
  },
  { additionalProperties: false },
);

const PostEditBody = Type.Object(
  {
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 20_000 })),
    variants: Type.Optional(Variants),
    networks: Type.Optional(Type.Array(NetworkName, { minItems: 1, uniqueItems: true })),
    language: Type.Optional(Language),
    at: Type.Optional(
      Type.String({
        format: 'date-time',
        description: "When to post; a new time without networks takes the plan's mirror networks for it",
      }),
    ),
    images: Type.Optional(
      Type.Array(ImageInput, { maxItems: 4, description: 'Replaces every image; left out, they are kept' }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

const Id = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9._~-]{1,100}$' }) });

const ChangeReply = Type.Object({
  post: PostReply,
  changes: Type.Array(
    Type.Object({
      network: NetworkName,
      deliveryId: Type.String(),
      change: Type.Union([Type.Literal('replaced'), Type.Literal('added'), Type.Literal('cancelled')]),
    }),
  ),
  notes: Type.Array(Type.String()),
});

async function changeReply(app: FastifyInstance, organisationId: string, result: PostChangeResult) {
  const state = await findPostState(app.store, organisationId, result.postId, 'ordinary');
  return { post: postReply(state), changes: result.changes, notes: result.notes };
}

export function decodeImages(images: Static<typeof ImageInput>[] | undefined) {
  return (images ?? []).map((im, i) => {
    const data = Buffer.from(im.data, 'base64');
    if (data.length === 0) throw new HttpError(422, 'invalid', `images[${i}].data: not base64 image bytes`);
    return { data: new Uint8Array(data), mediaType: im.mediaType, alt: im.alt };
  });
}

export function submitReply(result: SubmitResult, self: string) {
  return {
    id: result.postId,
    state: result.state,
    duplicate: result.duplicate,
    deliveries: result.deliveries,
    notes: result.notes,
    links: { self },
  };
}

export function postReply(s: PostState) {
  return {
    id: s.post.id,
    source: s.post.source,
    state: s.state,
    createdAt: s.post.createdAt.toISOString(),
    createdBy: s.post.createdBy,
    ...(s.post.replyToPostId ? { replyTo: s.post.replyToPostId } : {}),
    content: s.post.content,
    networks: s.networks,
  };
}

export async function loadPost(
  app: FastifyInstance,
  request: FastifyRequest,
  id: string,
  source: 'ordinary' | 'crisis',
) {
  const { organisationId } = principalOf(request);
  const state = await findPostState(app.store, organisationId, id, source);
  recordRead(app, request, { postId: id });
  return postReply(state);
}

export async function postRoutes(app: FastifyInstance, options: { xPrices?: XPriceTable } = {}) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.post(
    '/posts/preview',
    {
      onRequest: app.requireRole('editor'),
      schema: {
        tags: ['posts'],
        summary:
          'How an ordinary post will read on each network it goes to, with lengths, thread parts and the X cost; nothing is sent',
        description:
          'The same checks and the same choice of networks as POST /v1/posts at its time (`at`): a network the ' +
          "plan's mirror rules or the sunset policy leave out is named in notes with the reason.",
        body: PostBody,
        response: { 200: PreviewReply, ...errorReplies(400, 401, 403, 409, 413, 422) },
      },
    },
    async (request) => {
      const { organisationId } = principalOf(request);
      const body = request.body;
      const result = await preview(
        {
          store: app.store,
          settings: app.settings,
          ...(options.xPrices ? { xPrices: options.xPrices } : {}),
        },
        {
          organisationId,
          source: 'ordinary',
          text: body.text,
          ...(body.variants ? { variants: body.variants as Partial<Record<Network, string>> } : {}),
          ...(body.networks ? { networks: body.networks } : {}),
          ...(body.language ? { language: body.language } : {}),
          ...(body.at ? { at: new Date(body.at) } : {}),
          images: decodeImages(body.images),
        },
      );
      return previewReply(result);
    },
  );

  r.patch(
    '/posts/:id',
    {
      onRequest: app.requireRole('editor'),
      schema: {
        tags: ['posts'],
        summary:
          'Change an ordinary post that has not gone out: text, variants, networks, language, time, images',
        description:
          'Fields left out keep their value. Refused with 409 (nothing changed) when a network is sending it, has ' +
          'published it, or its thread has begun with other parts; and, under mirror.approval: second-person, once ' +
          'approved (cancel it and send a new one). A post awaiting approval keeps waiting, and whoever edits it ' +
          'cannot approve it. Audited as post.edited.',
        params: Id,
        body: PostEditBody,
        response: { 200: ChangeReply, ...errorReplies(400, 401, 403, 404, 409, 413, 422, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const body = request.body;
      const result = await editPost(
        { store: app.store, queues: app.queues, settings: app.settings, logger: app.log as Logger },
        {
          organisationId: principal.organisationId,
          postId: request.params.id,
          actor: principal.actor,
          person: principal.person,
          requestId: request.id,
          edit: {
            ...(body.text !== undefined ? { text: body.text } : {}),
            ...(body.variants ? { variants: body.variants as Partial<Record<Network, string>> } : {}),
            ...(body.networks ? { networks: body.networks } : {}),
            ...(body.language ? { language: body.language } : {}),
            ...(body.at ? { at: new Date(body.at) } : {}),
            ...(body.images ? { images: decodeImages(body.images) } : {}),
          },
        },
      );
      return changeReply(app, principal.organisationId, result);
    },
  );

  r.delete(
    '/posts/:id',
    {
      onRequest: app.requireRole('editor'),
      schema: {
        tags: ['posts'],
        summary: 'Cancel an ordinary post that has not gone out (waiting, or awaiting approval)',
        description:
          'Every waiting network is cancelled, or none: 409 when one of them is sending it, has published it or ' +
          'has begun its thread. Audited as post.cancelled; cancelling again changes nothing.',
        params: Id,
        response: { 200: ChangeReply, ...errorReplies(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const result = await cancelPost(
        { store: app.store, queues: app.queues, settings: app.settings, logger: app.log as Logger },
        {
          organisationId: principal.organisationId,
          postId: request.params.id,
          actor: principal.actor,
          person: principal.person,
          requestId: request.id,
        },
      );
      return changeReply(app, principal.organisationId, result);
    },
  );

  r.post(
    '/posts',
    {
      onRequest: app.requireRole('editor'),
      schema: {
        tags: ['posts'],
        summary: 'An ordinary post, mirrored to the networks the plan allows now',
        headers: IdempotencyHeaders,
        body: PostBody,
        response: {
          202: SubmitReply,
          ...errorReplies(400, 401, 403, 409, 413, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const body = request.body;
      const at = body.at ? new Date(body.at) : undefined;
      const result = await submitPost(
        { store: app.store, queues: app.queues, settings: app.settings, logger: app.log as Logger },
        {
          organisationId: principal.organisationId,
          source: 'ordinary',
          text: body.text,
          ...(body.variants ? { variants: body.variants as Partial<Record<Network, string>> } : {}),
          ...(body.networks ? { networks: body.networks } : {}),
          ...(body.language ? { language: body.language } : {}),
          ...(at ? { at } : {}),
          images: decodeImages(body.images),
          ...(request.headers['idempotency-key'] ? { clientKey: request.headers['idempotency-key'] } : {}),
          actor: principal.actor,
          person: principal.person,
          requestId: request.id,
          planVersion: principal.planVersion,
        },
      );
      return reply.status(202).send(submitReply(result, `/v1/posts/${result.postId}`));
    },
  );

  r.post(
    '/posts/:id/approve',
    {
      onRequest: app.requireRole('editor'),
      schema: {
        tags: ['posts'],
        summary: 'Approve an ordinary post waiting for a second person (mirror.approval: second-person)',
        description:
          'Its sender cannot approve it, under any token of theirs (403). Nothing of it is queued before.',
        params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9._~-]{1,100}$' }) }),
        response: { 202: SubmitReply, ...errorReplies(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const result = await approvePost(
        { store: app.store, queues: app.queues, settings: app.settings },
        {
          organisationId: principal.organisationId,
          postId: request.params.id,
          source: 'ordinary',
          actor: principal.actor,
          person: principal.person,
          requestId: request.id,
        },
      );
      return reply.status(202).send(submitReply(result, `/v1/posts/${result.postId}`));
    },
  );

  r.get(
    '/posts/:id',
    {
      onRequest: app.requireRole('editor', 'crisis', 'auditor', 'planner'),
      schema: {
        tags: ['posts'],
        summary: 'An ordinary post and its state on every network',
        params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9._~-]{1,100}$' }) }),
        response: { 200: PostReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => loadPost(app, request, request.params.id, 'ordinary'),
  );

  r.get(
    '/posts',
    {
      onRequest: app.requireRole('editor', 'crisis', 'auditor', 'planner'),
      schema: {
        tags: ['posts'],
        summary: 'Recent ordinary posts, newest first',
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
    async (request) => listPosts(app, request, 'ordinary', request.query),
  );
}

export async function listPosts(
  app: FastifyInstance,
  request: FastifyRequest,
  source: 'ordinary' | 'crisis',
  query: { limit?: number; before?: string },
) {
  const { organisationId } = principalOf(request);
  const posts = await app.store.posts.list(organisationId, {
    source,
    limit: query.limit ?? 50,
    ...(query.before ? { before: new Date(query.before) } : {}),
  });
  const states = await Promise.all(posts.map((p) => postState(app.store, organisationId, p.id)));
  recordRead(app, request, { list: source });
  return { posts: states.filter((s): s is PostState => s !== undefined).map(postReply) };
}

/** TypeBox schemas shared by the routes; they are the OpenAPI document at /docs too. */
import { Type, type Static } from 'typebox';

export const ErrorReply = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
    requestId: Type.String(),
  },
  { description: 'What went wrong, in words a person can act on.' },
);

export const NetworkName = Type.Union([Type.Literal('x'), Type.Literal('bluesky'), Type.Literal('mastodon')]);

export const DeliveryStatusName = Type.Union([
  Type.Literal('queued'),
  Type.Literal('sending'),
  Type.Literal('published'),
  Type.Literal('failed'),
  Type.Literal('needs-attention'),
  Type.Literal('skipped'),
  Type.Literal('cancelled'),
]);

export const NetworkState = Type.Object({
  status: DeliveryStatusName,
  url: Type.Optional(Type.String()),
  urls: Type.Array(Type.String()),
  attempts: Type.Integer(),
  lastError: Type.Optional(Type.String()),
  parts: Type.Integer(),
  published: Type.Integer(),
  checklist: Type.Optional(Type.Array(Type.String())),
  outcomeUnknown: Type.Optional(
    Type.Literal(true, {
      description: 'The store has not heard whether the part on its way landed; it is being checked.',
    }),
  ),
  note: Type.Optional(Type.String({ description: 'e.g. "sending, outcome being checked"' })),
});

export const Networks = Type.Object({
  x: Type.Optional(NetworkState),
  bluesky: Type.Optional(NetworkState),
  mastodon: Type.Optional(NetworkState),
});

export const SubmitReply = Type.Object({
  id: Type.String(),
  state: Type.Union([Type.Literal('accepted'), Type.Literal('awaiting-approval'), Type.Literal('recorded')]),
  duplicate: Type.Boolean(),
  deliveries: Type.Array(
    Type.Object({ network: NetworkName, deliveryId: Type.String(), parts: Type.Integer() }),
  ),
  notes: Type.Array(Type.String()),
  links: Type.Object({ self: Type.String() }),
});

export const PostReply = Type.Object({
  id: Type.String(),
  source: Type.String(),
  state: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.String(),
  replyTo: Type.Optional(Type.String()),
  content: Type.Unknown(),
  networks: Networks,
});

export const ImageInput = Type.Object({
  data: Type.String({
    description: 'The image bytes, base64.',
    contentEncoding: 'base64',
    maxLength: 8_000_000,
  }),
  mediaType: Type.String({ description: 'image/png, image/jpeg, image/gif or image/webp' }),
  alt: Type.String({ description: 'Alternative text, required.', minLength: 1, maxLength: 2000 }),
});

export const Variants = Type.Object(
  {
    x: Type.Optional(Type.String({ maxLength: 20_000 })),
    bluesky: Type.Optional(Type.String({ maxLength: 20_000 })),
    mastodon: Type.Optional(Type.String({ maxLength: 20_000 })),
  },
  { additionalProperties: false, description: 'Per-network text replacing `text` on that network.' },
);

export const Language = Type.String({
  pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$',
  description: 'BCP 47, e.g. fr-FR',
});

export type ErrorReplyT = Static<typeof ErrorReply>;

/** The error answers a route documents: one entry per status, each the one error shape. */
export function errorReplies<const S extends number>(...statuses: S[]): Record<S, typeof ErrorReply> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorReply])) as Record<S, typeof ErrorReply>;
}

/** The preview answer shared by POST /v1/crisis/preview and POST /v1/posts/preview: one shape, one mapping. */
import { formatUsd, type Preview } from '@sunset/engine/outbox';
import { Type } from 'typebox';
import { NetworkName } from '../schemas.ts';

const MICRO = 1_000_000;

const XCost = Type.Object(
  {
    total: Type.Number({ description: 'Every part together, in USD.' }),
    currency: Type.Literal('USD'),
    text: Type.String({ description: 'The total for people, e.g. "$0.40".' }),
    warning: Type.Optional(
      Type.String({ description: 'Why it costs the URL price, and what it would cost without the link.' }),
    ),
  },
  { description: "What the post costs on X at the operator's prices (SUNSET_X_PRICES)." },
);

export const PreviewReply = Type.Object({
  networks: Type.Array(
    Type.Object({
      network: NetworkName,
      label: Type.String(),
      text: Type.String(),
      parts: Type.Array(
        Type.Object({
          text: Type.String(),
          length: Type.Integer(),
          limit: Type.Integer(),
          unit: Type.String(),
          cost: Type.Optional(Type.Number({ description: 'On X: what this part costs, in USD.' })),
        }),
      ),
      cost: Type.Optional(XCost),
    }),
  ),
  notes: Type.Array(Type.String()),
});

/** The engine's preview as the API answers it: costs in dollars rather than micro-dollars. */
export function previewReply(result: Preview) {
  return {
    notes: result.notes,
    networks: result.networks.map(({ cost, parts, ...network }) => ({
      ...network,
      parts: parts.map(({ costMicros, ...part }) => ({
        ...part,
        ...(costMicros !== undefined ? { cost: costMicros / MICRO } : {}),
      })),
      ...(cost
        ? {
            cost: {
              total: cost.totalMicros / MICRO,
              currency: 'USD' as const,
              text: formatUsd(cost.totalMicros),
              ...(cost.warning ? { warning: cost.warning } : {}),
            },
          }
        : {}),
    })),
  };
}

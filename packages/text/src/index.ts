export {
  DEFAULT_MASTODON_LIMITS,
  graphemeCount,
  mastodonLength,
  utf8Length,
  xWeightedLength,
  xRefusedCharacters,
  describeRefused,
  type MastodonLimits,
  type RefusedCharacter,
} from './count.ts';
export { describeLength, measure, type LengthReport, type TextLimits } from './measure.ts';
export { splitThread, type ThreadOptions } from './thread.ts';
export { blueskyFacets, type Facet } from './facets.ts';
export {
  costOf,
  DEFAULT_X_PRICES,
  formatUsd,
  parseXPrices,
  usdToMicros,
  xHasUrl,
  xLinkCostWarning,
  X_PRICE_NAMES,
  type XPriced,
  type XPriceTable,
  type XRequest,
} from './x-cost.ts';

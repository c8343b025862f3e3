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

// Low-level counters, one per unit the networks use. All pure: no I/O, no global state.
import twitter from 'twitter-text';

/** Mastodon's per-instance text limits (GET /api/v2/instance → configuration.statuses). */
export interface MastodonLimits {
  maxCharacters: number;
  charactersReservedPerUrl: number;
}

export const DEFAULT_MASTODON_LIMITS: MastodonLimits = Object.freeze({
  maxCharacters: 500,
  charactersReservedPerUrl: 23,
});

export const X_LIMIT = 280;
/** What X (t.co) counts for any URL, whatever its length. */
export const X_URL_LENGTH = 23;
export const BLUESKY_GRAPHEME_LIMIT = 300;
export const BLUESKY_BYTE_LIMIT = 3000;

/** X's weighted length, exactly as twitter-text's `parseTweet` computes it. */
export function xWeightedLength(text: string): number {
  return twitter.parseTweet(text).weightedLength;
}

/** A character X refuses in a post, and where: "U+FFFE" at the 14th character (code point). */
export interface RefusedCharacter {
  codePoint: string;
  position: number;
}

/**
 * The characters X refuses in `text`: those twitter-text lists as invalid (U+FFFE, U+FEFF,
 * U+FFFF), which make `parseTweet` call a text invalid whatever its length.
 */
export function xRefusedCharacters(text: string): RefusedCharacter[] {
  const refused: RefusedCharacter[] = [];
  let position = 0;
  for (const char of text) {
    position += 1;
    if (twitter.hasInvalidCharacters(char)) {
      const hex = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      refused.push({ codePoint: `U+${hex}`, position });
    }
  }
  return refused;
}

/** Plain words for the characters X refuses, fit for an error message; undefined when none. */
export function describeRefused(text: string): string | undefined {
  const refused = xRefusedCharacters(text);
  if (refused.length === 0) return undefined;
  const listed = refused
    .slice(0, 5)
    .map((r) => `${r.codePoint} at character ${r.position}`)
    .join(', ');
  const more = refused.length > 5 ? ` and ${refused.length - 5} more` : '';
  return `contains ${listed}${more}, which X refuses (twitter-text's invalid characters); remove ${refused.length === 1 ? 'it' : 'them'}`;
}

/** The URLs X counts at a fixed length (with or without protocol, as `parseTweet` finds them). */
export function xUrlCount(text: string): number {
  return twitter.extractUrlsWithIndices(text.normalize()).length;
}

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

// Below U+0300 there is no combining mark, joiner, regional indicator, prepend or spacing mark:
// every code unit is a cluster of its own, except CR LF which is one.
const FROM_COMBINING = /[\u0300-\uffff]/; // any UTF-16 code unit from U+0300 up, surrogates included

/** Clusters of a text with no code unit from U+0300 up: one per code unit, CR LF one. */
function simpleCount(text: string): number {
  return text.length - (text.match(/\r\n/g)?.length ?? 0);
}

/** Extended grapheme clusters, as Bluesky (and Mastodon) count them. */
export function graphemeCount(text: string): number {
  const first = FROM_COMBINING.exec(text)?.index;
  if (first === undefined) return simpleCount(text);
  // Only the stretch from the code unit before the first one from U+0300 to the one after the
  // last is segmented: outside it, no cluster joins anything (a mark from U+0300 joins what is
  // before it, a prepended mark what is after), and a CR LF pair is never cut in two.
  let last = text.length - 1;
  while (text.charCodeAt(last) < 0x300) last--;
  let start = Math.max(0, first - 1);
  if (start > 0 && text.charCodeAt(start - 1) === 0x0d && text.charCodeAt(start) === 0x0a) start--;
  let end = Math.min(text.length, last + 2);
  if (end < text.length && text.charCodeAt(end - 1) === 0x0d && text.charCodeAt(end) === 0x0a) end++;
  let count = simpleCount(text.slice(0, start)) + simpleCount(text.slice(end));
  // Counting by iteration avoids building an array of segments.
  for (const _segment of graphemeSegmenter.segment(text.slice(start, end))) count++;
  return count;
}

/** The text's grapheme clusters, lazily (`containing(i)` finds the cluster around offset i). */
export function graphemeSegments(text: string): Intl.Segments {
  return graphemeSegmenter.segment(text);
}

/** Start offsets (UTF-16) of every grapheme cluster, followed by `text.length`. */
export function graphemeBoundaries(text: string): number[] {
  const boundaries: number[] = [];
  for (const segment of graphemeSegmenter.segment(text)) boundaries.push(segment.index);
  boundaries.push(text.length);
  return boundaries;
}

/**
 * UTF-8 length in bytes. A lone surrogate counts 3 bytes, as it is sent as U+FFFD (which is what
 * `TextEncoder` and `Buffer.from` do with it).
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Mastodon
//
// Mastodon's server (app/validators/status_length_validator.rb, 4.x) computes
//   countable_text(text).each_grapheme_cluster.size
// where countable_text runs its Extractor over the text (twitter-text's URL extraction with
// `extract_url_without_protocol: false`, plus Mastodon's own mention regex Account::MENTION_RE),
// drops overlapping entities, replaces every URL by 23 ('x' * 23, the instance's
// characters_reserved_per_url) and every mention `@user@domain` by `@user`. So the unit is the
// grapheme cluster, not the code point: an emoji ZWJ sequence counts 1.
//
// We reproduce that with twitter-text's JavaScript extractor. Mastodon patches the Ruby regex a
// little (config/initializers/twitter_regex.rb); the only difference that could make us count
// *less* than the server is that Mastodon's URL path may not end with '=', so such trailing '='
// are counted as plain characters here too. Elsewhere Mastodon's regex accepts more (any non-space
// path character, more schemes such as gemini://), so at worst we count a little more than the
// server, never less.
// ---------------------------------------------------------------------------------------------

// [[:word:]] in Ruby's Onigmo: letters, marks, decimal numbers, connector punctuation.
const WORD = String.raw`\p{L}\p{M}\p{Nd}\p{Pc}`;
const MASTODON_MENTION = new RegExp(
  String.raw`(?<![=/${WORD}])@([a-zA-Z0-9_]+(?:[.-]+[a-zA-Z0-9_]+)*(?:@[${WORD}]+(?:[.-]+[${WORD}]+)*)?)`,
  'gu',
);
const MAX_DOMAIN_LENGTH = 253;

interface Entity {
  kind: 'url' | 'mention';
  start: number;
  end: number;
  replacement: string;
}

/** Mastodon's mentions with their UTF-16 ranges (`@user` or `@user@domain`). */
export function mastodonMentions(text: string): { start: number; end: number; user: string }[] {
  if (!/[@＠]/.test(text)) return [];
  const found: { start: number; end: number; user: string }[] = [];
  for (const match of text.matchAll(MASTODON_MENTION)) {
    const end = match.index + match[0].length;
    if (twitter.regexen.endMentionMatch.test(text.slice(end))) continue;
    const screenName = match[1] ?? '';
    const [user = '', domain] = screenName.split('@');
    if (domain !== undefined && domain.length > MAX_DOMAIN_LENGTH) continue;
    found.push({ start: match.index, end, user });
  }
  return found;
}

/**
 * URLs Mastodon counts at a fixed length, with their UTF-16 ranges. Mastodon only counts URLs
 * with a protocol, and no URL spans white space (twitter-text's URL character classes exclude
 * all of JavaScript's \s), so only the space-separated runs holding "://" are searched: the
 * result is the same, and twitter-text's regex, quadratic on long runs of letters or emoji, is
 * spared the rest of the text.
 */
function mastodonUrls(text: string): { start: number; end: number }[] {
  if (!text.includes('://')) return [];
  const urls: { start: number; end: number }[] = [];
  for (const run of text.matchAll(/\S+/g)) {
    if (!run[0].includes('://')) continue;
    for (const { url, indices } of twitter.extractUrlsWithIndices(run[0], {
      extractUrlsWithoutProtocol: false,
    })) {
      const start = run.index + indices[0];
      let end = run.index + indices[1];
      // Mastodon's path may not end with '=' (see above); a query string may.
      if (!url.includes('?')) {
        while (end > start && text[end - 1] === '=') end--;
      }
      urls.push({ start, end });
    }
  }
  return urls;
}

function mastodonEntities(text: string, urlLength: number): Entity[] {
  const placeholder = 'x'.repeat(urlLength);
  const all: Entity[] = [
    ...mastodonUrls(text).map((u) => ({ ...u, kind: 'url' as const, replacement: placeholder })),
    ...mastodonMentions(text).map((m) => ({
      kind: 'mention' as const,
      start: m.start,
      end: m.end,
      replacement: `@${m.user}`,
    })),
  ];
  // twitter-text's remove_overlapping_entities: by start, drop any entity overlapping the last kept.
  all.sort((a, b) => a.start - b.start);
  const kept: Entity[] = [];
  for (const entity of all) {
    const last = kept.at(-1);
    if (last && last.end > entity.start) continue;
    kept.push(entity);
  }
  return kept;
}

function mastodonCountableText(text: string, urlLength: number): { text: string; urls: number } {
  let result = '';
  let index = 0;
  let urls = 0;
  for (const entity of mastodonEntities(text, urlLength)) {
    result += text.slice(index, entity.start) + entity.replacement;
    index = entity.end;
    if (entity.kind === 'url') urls++;
  }
  return { text: result + text.slice(index), urls };
}

export function resolveMastodonLimits(limits?: Partial<MastodonLimits>): MastodonLimits {
  return {
    maxCharacters: limits?.maxCharacters ?? DEFAULT_MASTODON_LIMITS.maxCharacters,
    charactersReservedPerUrl:
      limits?.charactersReservedPerUrl ?? DEFAULT_MASTODON_LIMITS.charactersReservedPerUrl,
  };
}

/** Length and URL count as Mastodon's server counts them. */
export function mastodonCount(
  text: string,
  limits?: Partial<MastodonLimits>,
): { length: number; urls: number } {
  const { charactersReservedPerUrl } = resolveMastodonLimits(limits);
  const countable = mastodonCountableText(text, charactersReservedPerUrl);
  return { length: graphemeCount(countable.text), urls: countable.urls };
}

/**
 * Length of a status as Mastodon's server counts it: grapheme clusters, every URL counted as
 * `charactersReservedPerUrl`, a remote mention `@user@domain` counted as `@user`.
 */
export function mastodonLength(text: string, limits?: Partial<MastodonLimits>): number {
  return mastodonCount(text, limits).length;
}

import { InputError, type Network } from '@sunset/core';
import twitter from 'twitter-text';
import {
  BLUESKY_BYTE_LIMIT,
  BLUESKY_GRAPHEME_LIMIT,
  X_LIMIT,
  graphemeBoundaries,
  graphemeCount,
  mastodonLength,
  mastodonMentions,
  resolveMastodonLimits,
  utf8Length,
  xWeightedLength,
} from './count.ts';
import type { TextLimits } from './measure.ts';

export interface ThreadOptions {
  limits?: TextLimits;
  /** Append " i/n" to every part (default true). */
  numbering?: boolean;
}

/** A run of text between break opportunities, as UTF-16 offsets into the source. */
interface Token {
  start: number;
  end: number;
  /** A sentence (or a line) ends after this token. */
  sentenceEnd: boolean;
}

type Fits = (candidate: string) => boolean;

/**
 * How a network measures text: a cost vector (one entry per limit) and the limits. `fits` gives
 * the same answer as `measure(candidate, network, limits).fits`, without building the report.
 */
interface Meter {
  cost: (text: string) => number[];
  limit: readonly number[];
  fits: Fits;
}

function within(cost: readonly number[], limit: readonly number[]): boolean {
  return cost.every((value, d) => value <= (limit[d] ?? 0));
}

function meterFor(network: Network, limits: TextLimits | undefined): Meter {
  let cost: (text: string) => number[];
  let limit: number[];
  switch (network) {
    case 'x':
      cost = (text) => [xWeightedLength(text)];
      limit = [X_LIMIT];
      break;
    case 'bluesky':
      cost = (text) => [utf8Length(text), graphemeCount(text)];
      limit = [BLUESKY_BYTE_LIMIT, BLUESKY_GRAPHEME_LIMIT];
      break;
    case 'mastodon': {
      const mastodon = resolveMastodonLimits(limits?.mastodon);
      cost = (text) => [mastodonLength(text, mastodon)];
      limit = [mastodon.maxCharacters];
      break;
    }
  }
  // Bytes first for Bluesky: cheap, and over the limit means no need to segment graphemes.
  const fits: Fits =
    network === 'bluesky'
      ? (text) => utf8Length(text) <= BLUESKY_BYTE_LIMIT && graphemeCount(text) <= BLUESKY_GRAPHEME_LIMIT
      : (text) => within(cost(text), limit);
  return { cost, limit, fits };
}

// Breakable whitespace: Unicode white space except the no-break spaces (U+00A0, U+2007, U+202F,
// U+FEFF) that French typography puts before ! ? ; : » and inside numbers, so "Bienvenue !" stays
// whole.
const BREAKABLE_SPACE = /^[^\S\u00a0\u2007\u202f\ufeff]+$/u;
// A token that ends a sentence: . ! ? … (and their CJK/compound forms), maybe followed by closing
// quotes or brackets.
const SENTENCE_END = /[.!?…‼⁇⁈⁉。！？][)\]}"'»”’›」』]*$/u;

/**
 * Splits `text` into tokens at breakable whitespace. Works on grapheme clusters, so a space that
 * carries a combining mark (" \u0301") is part of a word and never a break.
 */
function tokenize(text: string): Token[] {
  const boundaries = graphemeBoundaries(text);
  const tokens: Token[] = [];
  let start = -1;
  let gapHasNewline = false;
  for (let g = 0; g + 1 < boundaries.length; g++) {
    const from = boundaries[g] ?? 0;
    const to = boundaries[g + 1] ?? text.length;
    const cluster = text.slice(from, to);
    if (BREAKABLE_SPACE.test(cluster)) {
      if (start >= 0) {
        tokens.push({ start, end: from, sentenceEnd: false });
        start = -1;
        gapHasNewline = false;
      }
      if (/[\n\r\u2028\u2029\v\f]/.test(cluster)) gapHasNewline = true;
    } else if (start < 0) {
      const previous = tokens.at(-1);
      if (previous && gapHasNewline) previous.sentenceEnd = true;
      start = from;
    }
  }
  if (start >= 0) tokens.push({ start, end: text.length, sentenceEnd: false });
  for (const token of tokens) {
    if (SENTENCE_END.test(text.slice(token.start, token.end))) token.sentenceEnd = true;
  }
  const last = tokens.at(-1);
  if (last) last.sentenceEnd = true;
  return tokens;
}

/**
 * Ranges (offsets into `word`) that should not be cut: URLs, mentions (`@user`, `@user@domain`,
 * `@handle.domain`) and hashtags, as any of the three networks would see them.
 */
function protectedRanges(word: string): [number, number][] {
  const ranges: [number, number][] = twitter
    .extractEntitiesWithIndices(word)
    .map((entity): [number, number] => [entity.indices[0], entity.indices[1]]);
  for (const m of mastodonMentions(word)) ranges.push([m.start, m.end]);
  const patterns = [
    /(?:https?|ftp|wss?|gemini|gopher|ipfs|ipns|dat|dweb|ssb):\/\/\S+/giu,
    /[@＠][\p{L}\p{M}\p{N}_.@-]*[\p{L}\p{M}\p{N}_]/gu,
    /[#＃](?:[\p{L}\p{M}\p{N}_]|\u200d|\ufe0f)+/gu,
  ];
  for (const pattern of patterns) {
    for (const match of word.matchAll(pattern)) ranges.push([match.index, match.index + match[0].length]);
  }
  return ranges;
}

/** The largest candidate for which `ok` holds, assuming `ok` is monotone (checked by the caller). */
function largest(candidates: number[], ok: (candidate: number) => boolean): number | undefined {
  let low = 0;
  let high = candidates.length - 1;
  let found: number | undefined;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const candidate = candidates[middle] ?? 0;
    if (ok(candidate)) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  // Lengths are monotone in practice; should they not be, step down until one fits.
  if (found === undefined) return undefined;
  for (let i = found; i >= 0; i--) {
    const candidate = candidates[i] ?? 0;
    if (ok(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Where to cut a word that does not fit in a part on its own: the longest prefix that fits, ending
 * on a grapheme-cluster boundary, outside any URL, mention or hashtag if such a prefix exists.
 * Returns an offset in `text`, strictly inside the word.
 */
function cutWord(text: string, token: Token, suffix: string, fits: Fits): number | undefined {
  const word = text.slice(token.start, token.end);
  const cuts = graphemeBoundaries(word).filter((b) => b > 0 && b < word.length);
  const ranges = protectedRanges(word);
  const outside = cuts.filter((b) => ranges.every(([from, to]) => b <= from || b >= to));
  const ok = (cut: number): boolean => fits(word.slice(0, cut) + suffix);
  const cut = largest(outside, ok) ?? largest(cuts, ok);
  return cut === undefined ? undefined : token.start + cut;
}

/**
 * The largest of `ends` (ascending token indices) for which the part fits. `estimate` is a cheap,
 * additive guess (token lengths summed) used to find the spot; `exact` decides. Lengths add up
 * across whitespace in practice, so this usually costs one exact measurement.
 */
function pick(ends: readonly number[], estimate: (end: number) => boolean, exact: (end: number) => boolean) {
  let low = 0;
  let high = ends.length - 1;
  let k = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (estimate(ends[middle] ?? 0)) {
      k = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  k = Math.max(k, 0);
  if (k < ends.length && exact(ends[k] ?? 0)) {
    // The next end is over the estimate; look further only where the estimate was generous.
    while (k + 1 < ends.length && estimate(ends[k + 1] ?? 0) && exact(ends[k + 1] ?? 0)) k++;
    return ends[k];
  }
  for (k--; k >= 0; k--) if (exact(ends[k] ?? 0)) return ends[k];
  return undefined;
}

/** Per-token costs, so that a part's length can be estimated without measuring it. */
interface Costs {
  /** cost of token t's text */
  token: number[][];
  /** prefix[t] = sum over tokens u < t of (whitespace before u) + (token u); prefix has N + 1 entries */
  prefix: number[][];
}

function tokenCosts(text: string, tokens: readonly Token[], meter: Meter): Costs {
  // Gaps are mostly one space and words repeat: measure each distinct string once.
  const known = new Map<string, number[]>();
  const cost = (piece: string): number[] => {
    let value = known.get(piece);
    if (!value) {
      value = meter.cost(piece);
      known.set(piece, value);
    }
    return value;
  };
  const token: number[][] = [];
  const prefix: number[][] = [meter.limit.map(() => 0)];
  let previousEnd = tokens[0]?.start ?? 0;
  for (const t of tokens) {
    const own = cost(text.slice(t.start, t.end));
    const gap = t.start > previousEnd ? cost(text.slice(previousEnd, t.start)) : own.map(() => 0);
    const before = prefix.at(-1) ?? [];
    token.push(own);
    prefix.push(own.map((value, d) => (before[d] ?? 0) + (gap[d] ?? 0) + value));
    previousEnd = t.end;
  }
  return { token, prefix };
}

/**
 * Greedy split with a fixed total `n` in the numbering (or none): each part takes as many whole
 * sentences as fit; a sentence that does not fit in an empty part is filled word by word; a word
 * that does not fit alone is cut. Returns the chunks without their suffix.
 */
function fill(text: string, source: readonly Token[], costs: Costs, meter: Meter, n?: number): string[] {
  const tokens = source.map((token) => ({ ...token }));
  const sentenceEnds = tokens.flatMap((token, t) => (token.sentenceEnd ? [t] : []));
  const chunks: string[] = [];
  let i = 0;
  let firstCost = costs.token[0] ?? [];
  while (i < tokens.length) {
    const first = tokens[i];
    if (!first) break;
    const suffix = n === undefined ? '' : ` ${chunks.length + 1}/${n}`;
    const suffixCost = suffix ? meter.cost(suffix) : meter.limit.map(() => 0);
    const afterFirst = costs.prefix[i + 1] ?? [];
    const estimate = (end: number): boolean => {
      const upTo = costs.prefix[end + 1] ?? [];
      return meter.limit.every(
        (limit, d) =>
          (firstCost[d] ?? 0) + (upTo[d] ?? 0) - (afterFirst[d] ?? 0) + (suffixCost[d] ?? 0) <= limit,
      );
    };
    const exact = (end: number): boolean =>
      meter.fits(text.slice(first.start, tokens[end]?.end ?? text.length) + suffix);

    // 1. Whole sentences; 2. if the first one does not fit in an empty part, word by word.
    const from = sentenceEnds.findIndex((t) => t >= i);
    const sentences = from < 0 ? [] : sentenceEnds.slice(from);
    const end =
      pick(sentences, estimate, exact) ??
      pick(
        Array.from({ length: tokens.length - i }, (_, k) => i + k),
        estimate,
        exact,
      );
    if (end !== undefined) {
      chunks.push(text.slice(first.start, tokens[end]?.end ?? text.length));
      i = end + 1;
      firstCost = costs.token[i] ?? [];
      continue;
    }
    // 3. The first word does not fit on its own: cut it, carry the rest over.
    const cut = cutWord(text, first, suffix, meter.fits);
    if (cut === undefined) {
      throw new InputError(
        `The limit is too small to split this text into posts: not even one character fits beside "${suffix.trim()}".`,
      );
    }
    chunks.push(text.slice(first.start, cut));
    first.start = cut;
    firstCost = meter.cost(text.slice(first.start, first.end));
  }
  return chunks;
}

const MAX_ROUNDS = 100;

/**
 * Splits `text` into posts that each fit `network`'s limit.
 *
 * - If `text` fits, returns `[text]` unchanged (no numbering).
 * - Otherwise each part is `<chunk> <i>/<n>` (or just `<chunk>` with `numbering: false`).
 *   Parts break only at whitespace, preferring sentence ends (. ! ? … followed by whitespace)
 *   and line breaks: a part holds as many whole sentences as fit; a sentence too long for an
 *   empty part is filled word by word. The whitespace between parts is dropped; whitespace inside
 *   a part is kept as in the source. No-break spaces (U+00A0, U+2007, U+202F, U+FEFF) are not
 *   break opportunities, nor is a space carrying a combining mark.
 * - A single word too long for a part on its own (e.g. a 400-character token) is cut as a last
 *   resort, at a grapheme-cluster boundary, outside any URL, mention or hashtag it contains when
 *   possible. URLs count 23 on X and Mastodon, so only on Bluesky can a URL itself (one longer
 *   than about 290 graphemes) end up cut.
 * - Leading and trailing whitespace is dropped; a text that fits once trimmed is returned trimmed
 *   and unnumbered; a text of nothing but whitespace gives `[]` when it does not fit.
 *
 * Every part, numbering included, satisfies `measure(part, network, limits).fits`. Throws an
 * InputError only if the limit is too small for even one character beside the numbering.
 */
export function splitThread(text: string, network: Network, options?: ThreadOptions): string[] {
  const meter = meterFor(network, options?.limits);
  if (meter.fits(text)) return [text];
  const tokens = tokenize(text);
  const first = tokens[0];
  const last = tokens.at(-1);
  if (!first || !last) return [];
  const trimmed = text.slice(first.start, last.end);
  if (trimmed !== text && meter.fits(trimmed)) return [trimmed];
  const costs = tokenCosts(text, tokens, meter);
  if (options?.numbering === false) return fill(text, tokens, costs, meter);

  // Start from the estimated count; each round re-fills with the count the last one produced.
  const total = costs.prefix.at(-1) ?? [];
  let n = Math.max(2, ...meter.limit.map((limit, d) => Math.ceil((total[d] ?? 0) / limit)));
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const chunks = fill(text, tokens, costs, meter, n);
    if (chunks.length === n) return chunks.map((chunk, i) => `${chunk} ${i + 1}/${n}`);
    if (chunks.length > n) {
      n = chunks.length;
      continue;
    }
    // Fewer parts than announced: the real count is no wider, so the parts should still fit.
    const parts = chunks.map((chunk, i) => `${chunk} ${i + 1}/${chunks.length}`);
    if (parts.every(meter.fits)) return parts;
    n++;
  }
  throw new InputError('Could not find a stable numbering for this thread.');
}

import { InputError, type Network } from '@sunset/core';
import twitter from 'twitter-text';
import {
  BLUESKY_BYTE_LIMIT,
  BLUESKY_GRAPHEME_LIMIT,
  X_LIMIT,
  graphemeBoundaries,
  graphemeCount,
  graphemeSegments,
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
  /**
   * True only for a text that fits whatever it holds, told from its length alone (false: it
   * has to be measured). A text this short is most crisis posts: no segmenting or URL search.
   */
  surelyFits: Fits;
}

function within(cost: readonly number[], limit: readonly number[]): boolean {
  return cost.every((value, d) => value <= (limit[d] ?? 0));
}

/**
 * Whether an estimated cost is close enough to the limit to be worth an exact measurement.
 * Estimates add up token lengths, which is exact in practice, so anything well over is skipped:
 * that matters because twitter-text's URL regex is quadratic on long unbroken runs of letters or
 * emoji, and measuring a long candidate can take a second.
 */
function plausible(cost: readonly number[], limit: readonly number[]): boolean {
  return cost.every((value, d) => value <= (limit[d] ?? 0) * 1.1 + 5);
}

function meterFor(network: Network, limits: TextLimits | undefined): Meter {
  let cost: (text: string) => number[];
  let limit: number[];
  let surelyFits: Fits;
  switch (network) {
    case 'x':
      cost = (text) => [xWeightedLength(text)];
      limit = [X_LIMIT];
      // X weighs some characters double, a URL of 4 characters 23, after NFC (which can lengthen
      // a text): no bound from the length that short texts would meet.
      surelyFits = () => false;
      break;
    case 'bluesky':
      cost = (text) => [utf8Length(text), graphemeCount(text)];
      limit = [BLUESKY_BYTE_LIMIT, BLUESKY_GRAPHEME_LIMIT];
      // At most one grapheme and three UTF-8 bytes per UTF-16 code unit.
      surelyFits = (text) => text.length <= BLUESKY_GRAPHEME_LIMIT && 3 * text.length <= BLUESKY_BYTE_LIMIT;
      break;
    case 'mastodon': {
      const mastodon = resolveMastodonLimits(limits?.mastodon);
      cost = (text) => [mastodonLength(text, mastodon)];
      limit = [mastodon.maxCharacters];
      // Graphemes are at most the code units once URLs are counted at their reserved length and
      // mentions shortened; each URL holds a "://" of its own, so there are no more URLs than that.
      surelyFits = (text) =>
        mastodon.charactersReservedPerUrl >= 0 &&
        text.length + mastodon.charactersReservedPerUrl * (text.split('://').length - 1) <=
          mastodon.maxCharacters;
      break;
    }
  }
  // Bytes first for Bluesky: cheap, and over the limit means no need to segment graphemes.
  const fits: Fits =
    network === 'bluesky'
      ? (text) => utf8Length(text) <= BLUESKY_BYTE_LIMIT && graphemeCount(text) <= BLUESKY_GRAPHEME_LIMIT
      : (text) => within(cost(text), limit);
  return { cost, limit, fits, surelyFits };
}

// A token that ends a sentence: . ! ? … (and their CJK/compound forms), maybe followed by closing
// quotes or brackets, maybe after a (French) space.
const SENTENCE_END = /[.!?…‼⁇⁈⁉。！？][\s)\]}"'»”’›」』]*$/u;
// Breakable whitespace: Unicode white space except the no-break spaces (U+00A0, U+2007, U+202F,
// U+FEFF) that French typography puts before ! ? ; : » and inside numbers.
const BREAKABLE_RUN = /[^\S\u00a0\u2007\u202f\ufeff]+/gu;
const ANY_SPACE_RUN = /\s+/gu;
const NEWLINE = /[\n\r\u2028\u2029\v\f]/;
// Punctuation standing alone after a plain space ("Bienvenue !", "« citée »") stays with its word.
const CLOSING = /^[!?;:.,…%»”’)\]}›」』]+$/u;
const OPENING = /^[«“‘([{‹「『]+$/u;

/**
 * The runs of text between breakable white space (or the `spaces` given, a global regex), as
 * `[start, end)` offsets, cut on grapheme-cluster boundaries only: a space that carries a
 * combining mark (" \u0301") belongs to the next run, a space after a prepended mark (U+0600…) to
 * the previous one. Exported for tests.
 */
export function wordRuns(text: string, spaces: RegExp = BREAKABLE_RUN): [number, number][] {
  // Only marks from U+0300 up join a preceding space, only prepended marks from U+0600 up join a
  // following one: elsewhere white space is bounded for sure, and the segmenter is not needed.
  let segments: Intl.Segments | undefined;
  const cluster = (index: number): Intl.SegmentData | undefined =>
    (segments ??= graphemeSegments(text)).containing(index);
  const runs: [number, number][] = [];
  let start = 0;
  for (const space of text.matchAll(spaces)) {
    let from = space.index;
    let to = space.index + space[0].length;
    if (from > 0 && text.charCodeAt(from - 1) >= 0x600) {
      const around = cluster(from);
      if (around && around.index < from) from = around.index + around.segment.length;
    }
    if (to < text.length && text.charCodeAt(to) >= 0x300) {
      const around = cluster(to);
      if (around && around.index < to) to = around.index;
    }
    if (from >= to) continue;
    if (from > start) runs.push([start, from]);
    start = to;
  }
  if (start < text.length) runs.push([start, text.length]);
  return runs;
}

/**
 * Splits `text` into tokens: word runs, with lone punctuation attached to its word ("Bienvenue !"
 * is one token) unless a line break separates them, and sentence or line ends marked.
 * Exported for tests.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let glueNext = false;
  for (const [start, end] of wordRuns(text)) {
    const word = text.slice(start, end);
    const previous = tokens.at(-1);
    const gapHasNewline = previous !== undefined && NEWLINE.test(text.slice(previous.end, start));
    if (previous && !gapHasNewline && (glueNext || CLOSING.test(word))) {
      previous.end = end;
    } else {
      if (previous && gapHasNewline) previous.sentenceEnd = true;
      tokens.push({ start, end, sentenceEnd: false });
    }
    glueNext = OPENING.test(word);
  }
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
  // twitter-text's URL regex is quadratic on long unbroken runs: past a few thousand code units,
  // rely on the simpler patterns below.
  const ranges: [number, number][] =
    word.length > 2000
      ? []
      : twitter
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
 * Where to cut a token that does not fit in a part on its own: the longest prefix that fits,
 * preferably at a space inside the token (a no-break space, or where lone punctuation was attached
 * to its word), else on a grapheme-cluster boundary outside any URL, mention or hashtag, else on
 * any grapheme-cluster boundary. Returns the end of the prefix and where the rest starts (after the space, if cut at
 * one), as offsets in `text`, strictly inside the token.
 */
function cutWord(
  text: string,
  token: Token,
  suffix: string,
  fits: Fits,
): { end: number; next: number } | undefined {
  const word = text.slice(token.start, token.end);
  const ok = (cut: number): boolean => fits(word.slice(0, cut) + suffix);
  // Spaces inside a token: where lone punctuation was attached, and no-break spaces.
  const runs = wordRuns(word, ANY_SPACE_RUN);
  const gaps = runs.slice(1).map(([next], i): [number, number] => [runs[i]?.[1] ?? 0, next]);
  const atSpace = largest(
    gaps.map(([end]) => end),
    ok,
  );
  if (atSpace !== undefined) {
    const next = gaps.find(([end]) => end === atSpace)?.[1] ?? atSpace;
    return { end: token.start + atSpace, next: token.start + next };
  }
  const cuts = graphemeBoundaries(word).filter((b) => b > 0 && b < word.length);
  const ranges = protectedRanges(word);
  const outside = cuts.filter((b) => ranges.every(([from, to]) => b <= from || b >= to));
  const cut = largest(outside, ok) ?? largest(cuts, ok);
  return cut === undefined ? undefined : { end: token.start + cut, next: token.start + cut };
}

/**
 * The largest of `ends` (ascending token indices) for which the part fits. `estimate` is a cheap,
 * additive guess (token lengths summed) used to find the spot; `exact` decides. Lengths add up
 * across whitespace in practice, so this usually costs one exact measurement.
 */
function pick(
  ends: readonly number[],
  estimate: (end: number) => number[],
  limit: readonly number[],
  exact: (end: number) => boolean,
): number | undefined {
  const estimated = (end: number | undefined): boolean => within(estimate(end ?? 0), limit);
  let low = 0;
  let high = ends.length - 1;
  let k = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (estimated(ends[middle])) {
      k = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  if (k < 0) {
    // Even the first end is over the estimate: measure it only if the estimate is close.
    const firstEnd = ends[0];
    if (firstEnd === undefined || !plausible(estimate(firstEnd), limit)) return undefined;
    k = 0;
  }
  if (exact(ends[k] ?? 0)) {
    // The next end is over the estimate; look further only where the estimate was generous.
    while (k + 1 < ends.length && estimated(ends[k + 1]) && exact(ends[k + 1] ?? 0)) k++;
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
function fill(
  text: string,
  source: readonly Token[],
  costs: Costs,
  meter: Meter,
  n: number | undefined,
  trustEstimates: boolean,
): string[] {
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
    const estimate = (end: number): number[] => {
      const upTo = costs.prefix[end + 1] ?? [];
      return meter.limit.map(
        (_, d) => (firstCost[d] ?? 0) + (upTo[d] ?? 0) - (afterFirst[d] ?? 0) + (suffixCost[d] ?? 0),
      );
    };
    const exact = trustEstimates
      ? (end: number): boolean => within(estimate(end), meter.limit)
      : (end: number): boolean =>
          meter.fits(text.slice(first.start, tokens[end]?.end ?? text.length) + suffix);

    // 1. Whole sentences; 2. if the first one does not fit in an empty part, word by word.
    const from = sentenceEnds.findIndex((t) => t >= i);
    const sentences = from < 0 ? [] : sentenceEnds.slice(from);
    const end =
      pick(sentences, estimate, meter.limit, exact) ??
      pick(
        Array.from({ length: tokens.length - i }, (_, k) => i + k),
        estimate,
        meter.limit,
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
        suffix
          ? `The limit is too small to split this text into posts: not even one character fits beside "${suffix.trim()}".`
          : 'The limit is too small to split this text into posts: not even one character fits.',
      );
    }
    chunks.push(text.slice(first.start, cut.end));
    first.start = cut.next;
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
 *   a part is kept as in the source. No-break spaces (U+00A0, U+2007, U+202F, U+FEFF) and a
 *   plain space before lone punctuation ("Bienvenue !") are break opportunities only when the
 *   words they bind do not fit in a part together; a space carrying a combining mark never is.
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
  return splitThreadWith(text, network, options, 'estimates');
}

/**
 * `splitThread` with the search mode made explicit, for tests: 'estimates' picks parts from summed
 * token lengths and measures the result (falling back to 'exact' if a part does not fit), 'exact'
 * measures every candidate. Both give the same parts whenever lengths add up across white space.
 */
export function splitThreadWith(
  text: string,
  network: Network,
  options: ThreadOptions | undefined,
  mode: 'estimates' | 'exact',
): string[] {
  const meter = meterFor(network, options?.limits);
  // Most posts fit: one measurement says so, without tokenizing. Only for texts short enough that
  // measuring them whole is cheap (see `plausible`); longer ones take the estimates first.
  if (meter.surelyFits(text)) return [text];
  if (text.length <= 2 * Math.max(...meter.limit) && meter.fits(text)) return [text];
  const tokens = tokenize(text);
  const costs = tokenCosts(text, tokens, meter);
  const total = costs.prefix.at(-1) ?? [];
  const first = tokens[0];
  const last = tokens.at(-1);
  const trimmed = first && last ? text.slice(first.start, last.end) : '';
  if (plausible(total, meter.limit)) {
    if (meter.fits(text)) return [text];
    if (first && trimmed !== text && meter.fits(trimmed)) return [trimmed];
  }
  if (!first) return [];
  // Lengths add up across white space (URLs, mentions, emoji and grapheme clusters never span
  // it), so parts are chosen from the summed token lengths, then measured for real; should a part
  // not fit after all, the split is redone measuring every candidate.
  const numbering = options?.numbering !== false;
  if (mode === 'estimates') {
    const parts = fillAndNumber(text, tokens, costs, meter, numbering, true);
    if (parts.every(meter.fits)) return parts;
  }
  return fillAndNumber(text, tokens, costs, meter, numbering, false);
}

/** Fills parts and numbers them "i/n", re-filling until n is the number of parts. */
function fillAndNumber(
  text: string,
  tokens: readonly Token[],
  costs: Costs,
  meter: Meter,
  numbering: boolean,
  trustEstimates: boolean,
): string[] {
  if (!numbering) return fill(text, tokens, costs, meter, undefined, trustEstimates);
  // Start from the estimated count; each round re-fills with the count the last one produced.
  const total = costs.prefix.at(-1) ?? [];
  let n = Math.max(2, ...meter.limit.map((limit, d) => Math.ceil((total[d] ?? 0) / limit)));
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const chunks = fill(text, tokens, costs, meter, n, trustEstimates);
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

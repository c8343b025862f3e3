// Shared by the property tests: random multilingual text with emoji, URLs, mentions and hashtags.
// Not a test file itself (vitest only runs *.test.ts) and left out of the build.
import fc from 'fast-check';
import { expect } from 'vitest';
import { measure, type TextLimits } from './measure.ts';
import { splitThread } from './thread.ts';

const SUFFIX = / (\d+)\/(\d+)$/;

/** A generated word, and the entity (URL, mention, hashtag) it carries, if any. */
interface Word {
  text: string;
  entity?: string;
}

const plain = (arb: fc.Arbitrary<string>): fc.Arbitrary<Word> => arb.map((text) => ({ text }));
const entity = (arb: fc.Arbitrary<string>): fc.Arbitrary<Word> => arb.map((text) => ({ text, entity: text }));

const asciiWord = fc.stringMatching(/^[A-Za-z][a-z0-9]{0,11}$/);
const frenchWord = fc.constantFrom(
  'été',
  'déjà',
  'Noël',
  'français',
  'garçon',
  'œuvre',
  'Ève',
  'où',
  'forêt',
  'cœur',
  'élève',
  "aujourd'hui",
  'Ça',
  'naïve',
  'Côte-d’Ivoire',
  'À',
);
const EMOJI = ['😀', '🎉', '👍🏽', '👋🏿', '👨‍👩‍👧', '👨‍👩‍👧‍👦', '👩🏾‍💻', '🧑‍🤝‍🧑', '🇫🇷', '🇪🇺', '🏳️‍🌈', '🏴‍☠️', '❤️', '✅', '1️⃣'];
const emojiWord = fc.array(fc.constantFrom(...EMOJI), { minLength: 1, maxLength: 4 }).map((e) => e.join(''));
const cjkWord = fc
  .array(fc.oneof(fc.integer({ min: 0x4e00, max: 0x9fff }), fc.integer({ min: 0xac00, max: 0xd7a3 })), {
    minLength: 1,
    maxLength: 12,
  })
  .map((codePoints) => String.fromCodePoint(...codePoints));
const combiningWord = fc
  .tuple(
    fc.constantFrom('a', 'e', 'o', 'n', 'A', ''),
    fc.array(fc.integer({ min: 0x300, max: 0x36f }), { minLength: 1, maxLength: 3 }),
    fc.constantFrom('', 'x', 'ment'),
  )
  // An empty base puts the marks right after the previous space: that space is then part of the
  // word's first grapheme cluster and must not be broken.
  .map(([base, marks, tail]) => base + String.fromCodePoint(...marks) + tail);
const handle = fc.stringMatching(/^[a-z][a-z0-9]{1,11}$/);
const mention = fc.oneof(
  handle.map((name) => `@${name}.bsky.social`),
  handle.map((name) => `@${name}@mastodon.social`),
  fc.constant('@tours.fr'),
);
const hashtag = fc.oneof(asciiWord, frenchWord, cjkWord).map((tag) => `#${tag}`);

function url(maxPath: number): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom('https://example.org/path-', 'https://www.tours.fr/', 'http://example.com/a/'),
      fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: maxPath })),
      fc.stringMatching(/^[a-z0-9-]{1,8}$/),
    )
    .map(
      ([prefix, length, seed]) =>
        prefix + seed.repeat(Math.ceil(length / seed.length)).slice(0, length) + 'z',
    );
}

function word(maxUrlPath: number): fc.Arbitrary<Word> {
  return fc.oneof(
    { weight: 5, arbitrary: plain(asciiWord) },
    { weight: 3, arbitrary: plain(frenchWord) },
    { weight: 2, arbitrary: plain(emojiWord) },
    { weight: 2, arbitrary: plain(cjkWord) },
    { weight: 1, arbitrary: plain(combiningWord) },
    { weight: 1, arbitrary: entity(url(maxUrlPath)) },
    { weight: 1, arbitrary: entity(mention) },
    { weight: 1, arbitrary: entity(hashtag) },
  );
}

const punctuation = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: fc.constantFrom('.', '!', '?', '…', ',', ';', '.»', ' !', '\u00a0!', ' :') },
);
const separator = fc.oneof(
  { weight: 10, arbitrary: fc.constant(' ') },
  { weight: 2, arbitrary: fc.constantFrom('  ', '\n', '\n\n', '\t', ' \n ', '\u00a0', '\u3000') },
);

/** Random text and the entities in it. Every word fits in a part of its own on every network. */
export function text(maxUrlPath: number, maxWords = 90): fc.Arbitrary<{ text: string; entities: string[] }> {
  return fc
    .tuple(
      fc.constantFrom('', ' ', '\n'),
      fc.array(fc.tuple(word(maxUrlPath), punctuation, separator), {
        minLength: 1,
        maxLength: maxWords,
        size: 'max',
      }),
      fc.constantFrom('', ' ', '\n'),
    )
    .map(([lead, words, trail]) => ({
      text: lead + words.map(([w, p, s], i) => w.text + p + (i < words.length - 1 ? s : '')).join('') + trail,
      entities: words.flatMap(([w]) => (w.entity === undefined ? [] : [w.entity])),
    }));
}

function words(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}

/** The parts without their " i/n" suffix, after checking the numbering. */
export function chunks(parts: string[]): string[] {
  if (parts.length <= 1) return parts;
  return parts.map((part, i) => {
    expect(part.endsWith(` ${i + 1}/${parts.length}`), `part ${i + 1} numbered`).toBe(true);
    return part.replace(SUFFIX, '');
  });
}

export function checkThread(
  source: string,
  entities: string[],
  network: 'x' | 'bluesky' | 'mastodon',
  limits?: TextLimits,
) {
  const parts = splitThread(source, network, { limits });
  // (1) every part fits, numbering included
  for (const part of parts) expect(measure(part, network, limits).fits).toBe(true);
  if (measure(source, network, limits).fits) expect(parts).toEqual([source]);
  const bodies = chunks(parts);
  // (2) the words come back in order, none lost, none cut
  expect(bodies.flatMap(words)).toEqual(words(source));
  // (3) no URL, mention or hashtag is cut
  for (const e of entities) expect(bodies.some((body) => body.includes(e))).toBe(true);
  return parts;
}

/**
 * Texts from `arb` too long for one post on `network` (with `limits`) even without the white
 * space around them, which splitting drops: each must become a thread, so the splitting is
 * exercised on every run whatever share of `arb` is short.
 */
export function tooLongFor<T extends { text: string }>(
  arb: fc.Arbitrary<T>,
  network: 'x' | 'bluesky' | 'mastodon',
  limits?: TextLimits,
): fc.Arbitrary<T> {
  return arb.filter(({ text }) => !measure(text.trim(), network, limits).fits);
}

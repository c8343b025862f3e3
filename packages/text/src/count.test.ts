import fc from 'fast-check';
import twitter from 'twitter-text';
import { describe, expect, it } from 'vitest';
import {
  describeRefused,
  graphemeCount,
  mastodonLength,
  utf8Length,
  xRefusedCharacters,
  xWeightedLength,
} from './count.ts';

const FAMILY = '👨‍👩‍👧'; // man ZWJ woman ZWJ girl: 3 emoji, 2 joiners, 18 bytes
const FAMILY4 = '👨‍👩‍👧‍👦'; // 4 emoji, 3 joiners, 25 bytes
const LONG_URL = `https://example.org/${'a'.repeat(200)}`;
const runs = Number(process.env.FC_NUM_RUNS ?? 1000);

describe('xWeightedLength', () => {
  it.each([
    ['ASCII', 'Bonjour', 7],
    ['French accents count 1', 'été à Noël', 10],
    ['an emoji counts 2', '😀', 2],
    ['a ZWJ family counts 2, like one emoji', FAMILY, 2],
    ['a skin-toned emoji counts 2', '👍🏽', 2],
    ['a flag counts 2', '🇫🇷', 2],
    ['CJK counts 2 a character', '日本語', 6],
    ['e + combining acute is normalised to é', 'e\u0301', 1],
    ['a long URL counts 23', LONG_URL, 23],
    ['a bare domain is a link on X', 'tours.fr', 23],
    ['two URLs and words', 'Voir https://a.fr/x et https://b.fr/y', 5 + 23 + 4 + 23],
  ])('%s', (_label, text, expected) => {
    expect(xWeightedLength(text)).toBe(expected);
  });

  it('is exactly parseTweet().weightedLength', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (text) => {
        expect(xWeightedLength(text)).toBe(twitter.parseTweet(text).weightedLength);
      }),
      { numRuns: Math.min(runs, 300) },
    );
  });
});

describe('graphemeCount', () => {
  it.each([
    ['ASCII', 'Bonjour', 7],
    ['accents', 'été', 3],
    ['emoji', '😀', 1],
    ['ZWJ family', FAMILY, 1],
    ['skin tone', '👍🏽', 1],
    ['flag', '🇫🇷', 1],
    ['rainbow flag (VS16 + ZWJ)', '🏳️‍🌈', 1],
    ['CJK', '日本語', 3],
    ['e + combining acute', 'e\u0301', 1],
    ['several combining marks', 'a\u0308\u0301\u0323', 1],
    ['CR LF is one cluster', 'a\r\nb', 3],
    ['empty', '', 0],
    ['emoji then ASCII', '🔴 ALERTE canicule', 17],
    ['CR LF on both sides of a mark', 'a\r\n\u0301b\r\n', 5],
    ['a prepended mark joins the ASCII after it', 'x\u0600a b', 4],
    ['ZWJ between two pictographs below U+0300', 'a ©\u200d© b', 5],
  ])('%s', (_label, text, expected) => {
    expect(graphemeCount(text)).toBe(expected);
    expect(graphemeCount(text)).toBe(
      [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)].length,
    );
  });

  it('agrees with Intl.Segmenter on any UTF-16 (fast path included)', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const utf16 = fc
      .array(fc.oneof(fc.integer({ min: 0, max: 0x3ff }), fc.integer({ min: 0, max: 0xffff })), {
        maxLength: 40,
      })
      .map((units) => String.fromCharCode(...units));
    fc.assert(
      fc.property(fc.oneof(utf16, fc.string({ unit: 'grapheme-composite', maxLength: 40 })), (text) => {
        expect(graphemeCount(text)).toBe([...segmenter.segment(text)].length);
      }),
      { numRuns: runs },
    );
  });
});

describe('utf8Length', () => {
  it.each([
    ['ASCII', 'abc', 3],
    ['é is 2 bytes', 'é', 2],
    ['€ is 3 bytes', '€', 3],
    ['an astral emoji is 4 bytes', '😀', 4],
    ['ZWJ family', FAMILY, 18],
    ['4-person family', FAMILY4, 25],
    ['a lone surrogate is sent as U+FFFD, 3 bytes', '\ud83d', 3],
  ])('%s', (_label, text, expected) => {
    expect(utf8Length(text)).toBe(expected);
  });

  it('agrees with Buffer.byteLength on any UTF-16, lone surrogates included', () => {
    const utf16 = fc
      .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 })
      .map((units) => String.fromCharCode(...units));
    const astral = fc
      .array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength: 20 })
      .map((codePoints) => String.fromCodePoint(...codePoints));
    fc.assert(
      fc.property(fc.oneof(utf16, astral), (text) => {
        expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
      }),
      { numRuns: runs },
    );
  });
});

describe('mastodonLength', () => {
  it.each([
    ['ASCII', 'Bonjour', 7],
    ['accents', 'été à Noël', 10],
    ['an emoji is one character', '😀', 1],
    ['a ZWJ family is one character (grapheme clusters)', FAMILY, 1],
    ['CJK counts 1', '日本語', 3],
    ['e + combining acute', 'e\u0301', 1],
    ['a long URL counts 23', LONG_URL, 23],
    ['a short URL counts 23 too', 'https://a.fr', 23],
    ['a bare domain is not a link on Mastodon', 'tours.fr', 8],
    ['a remote mention counts as @user', '@user@mastodon.social', 5],
    ['a local mention counts in full', '@ville_de_tours', 15],
    ['mention and URL in a sentence', 'Merci @mairie@tours.social ! https://tours.fr/agenda', 6 + 7 + 3 + 23],
    ['an e-mail address is not a mention', 'contact@ville.fr', 16],
    ['a mention followed by @ is not one', '@user@mastodon.social@', 22],
    ["a URL path does not end with '=' for Mastodon", 'https://e.org/a=', 24],
  ])('%s', (_label, text, expected) => {
    expect(mastodonLength(text)).toBe(expected);
  });

  it('uses the per-instance URL length', () => {
    expect(mastodonLength(`${LONG_URL} ${LONG_URL}`, { charactersReservedPerUrl: 30 })).toBe(61);
  });
});

describe('xRefusedCharacters', () => {
  it('finds exactly the characters that make twitter-text call a text invalid, with their place', () => {
    expect(xRefusedCharacters('Crue 🌊\uFFFE quais\uFEFF.\uFFFF')).toEqual([
      { codePoint: 'U+FFFE', position: 7 },
      { codePoint: 'U+FEFF', position: 14 },
      { codePoint: 'U+FFFF', position: 16 },
    ]);
    for (const text of ['Crue de la Loire.', 'a\uFFFEb', 'a\uFEFFb', 'a\uFFFFb', '\u202Eabc', 'é\u0301']) {
      expect(xRefusedCharacters(text).length === 0, text).toBe(twitter.parseTweet(text).valid);
    }
    expect(describeRefused('ok')).toBeUndefined();
    expect(describeRefused('a\uFFFEb')).toBe(
      "contains U+FFFE at character 2, which X refuses (twitter-text's invalid characters); remove it",
    );
  });
});

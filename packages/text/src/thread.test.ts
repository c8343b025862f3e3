import { InputError } from '@sunset/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { graphemeCount } from './count.ts';
import { measure } from './measure.ts';
import { splitThread, tokenize, wordRuns } from './thread.ts';

const NETWORKS = ['x', 'bluesky', 'mastodon'] as const;
const SUFFIX = / (\d+)\/(\d+)$/;

function chunkOf(part: string): string {
  return part.replace(SUFFIX, '');
}

/** Every part fits and is numbered i/n in order. */
function expectWellFormed(parts: string[], network: (typeof NETWORKS)[number]): void {
  parts.forEach((part, i) => {
    expect(measure(part, network).fits, `part ${i + 1} fits ${network}`).toBe(true);
    if (parts.length > 1) expect(part.endsWith(` ${i + 1}/${parts.length}`)).toBe(true);
  });
}

// Three sentences, 338 characters: the first two fit together on X, the third does not.
const S1 = 'La Ville de Tours quitte X le 1er décembre.';
const S2 =
  'Retrouvez toutes nos informations sur Bluesky et Mastodon, où nous publierons désormais les actualités municipales, les alertes et les événements culturels de la saison.';
const S3 =
  'Merci à toutes celles et ceux qui nous ont suivis ici pendant toutes ces années, et à très bientôt sur nos nouveaux comptes !';
const FRENCH = `${S1} ${S2} ${S3}`;

describe('splitThread', () => {
  it('returns a text that fits unchanged, without numbering', () => {
    for (const network of NETWORKS) {
      expect(splitThread('Bonjour à toutes et à tous !  ', network)).toEqual([
        'Bonjour à toutes et à tous !  ',
      ]);
      expect(splitThread('', network)).toEqual(['']);
    }
  });

  it('splits a French three-sentence text at sentence ends on X', () => {
    expect(measure(FRENCH, 'x').fits).toBe(false);
    expect(splitThread(FRENCH, 'x')).toEqual([`${S1} ${S2} 1/2`, `${S3} 2/2`]);
  });

  it('keeps sentences whole on the other networks when they fit', () => {
    const long = Array.from({ length: 4 }, () => FRENCH).join(' ');
    for (const network of ['bluesky', 'mastodon'] as const) {
      const parts = splitThread(long, network);
      expectWellFormed(parts, network);
      for (const part of parts) expect(chunkOf(part)).toMatch(/[.!]$/);
    }
  });

  it('fills a sentence too long for one part word by word', () => {
    const sentence = Array.from({ length: 80 }, (_, i) => `mot${i}`).join(' ') + '.';
    const parts = splitThread(sentence, 'x');
    expectWellFormed(parts, 'x');
    expect(parts.map(chunkOf).join(' ')).toBe(sentence);
    // As full as possible: the next word would not have fitted.
    const words = sentence.split(' ');
    const firstWords = chunkOf(parts[0] ?? '').split(' ');
    const withNext = [...firstWords, words[firstWords.length]].join(' ') + ` 1/${parts.length}`;
    expect(measure(withNext, 'x').fits).toBe(false);
  });

  it('breaks at line ends as at sentence ends', () => {
    const lines = Array.from({ length: 12 }, (_, i) => `Ligne ${i} : programme du jour et horaires`).join(
      '\n',
    );
    const parts = splitThread(lines, 'x');
    expectWellFormed(parts, 'x');
    for (const part of parts) expect(chunkOf(part)).toMatch(/horaires$/);
    expect(chunkOf(parts[0] ?? '')).toContain('\n'); // whitespace inside a part is kept
  });

  it('never cuts a URL near a part boundary', () => {
    const link = `https://www.tours.fr/actualites/${'agenda-'.repeat(20)}2025`;
    for (const network of NETWORKS) {
      const limit = measure('', network).limit;
      let split = 0;
      for (let pad = limit - 200; pad < limit; pad += 3) {
        const text = `${'mot '.repeat(pad / 4)}${link} et la suite du message.`;
        const parts = splitThread(text, network);
        expectWellFormed(parts, network);
        expect(parts.filter((part) => part.includes(link))).toHaveLength(1);
        if (parts.length > 1) split++;
      }
      expect(split).toBeGreaterThan(10);
    }
  });

  it('never cuts a hashtag or a mention near a part boundary', () => {
    const words = Array.from({ length: 120 }, (_, i) =>
      i % 3 === 0
        ? `#ConseilMunicipal${i}`
        : i % 3 === 1
          ? `@agent${i}.bsky.social`
          : `@agent${i}@mastodon.social`,
    );
    const text = words.join(' ');
    for (const network of NETWORKS) {
      const parts = splitThread(text, network);
      expectWellFormed(parts, network);
      expect(parts.flatMap((part) => chunkOf(part).split(' '))).toEqual(words);
    }
  });

  it('keeps a long URL whole on X and Mastodon, where it counts 23', () => {
    const link = `https://example.org/${'a'.repeat(400)}`;
    const text = `Début ${link} fin ${'mot '.repeat(150)}`;
    for (const network of ['x', 'mastodon'] as const) {
      const parts = splitThread(text, network);
      expect(parts.length).toBeGreaterThan(1);
      expectWellFormed(parts, network);
      expect(parts.some((part) => part.includes(link))).toBe(true);
    }
  });

  it('cuts a token longer than a whole part at grapheme boundaries, as a last resort', () => {
    const word = 'é'.repeat(400);
    for (const network of NETWORKS) {
      const limits = { mastodon: { maxCharacters: 150 } };
      const parts = splitThread(word, network, { limits });
      expect(parts.length).toBeGreaterThan(1);
      for (const part of parts) expect(measure(part, network, limits).fits).toBe(true);
      expect(parts.map(chunkOf).join('')).toBe(word);
    }
  });

  it('never breaks a grapheme cluster when cutting', () => {
    const family = '👨‍👩‍👧‍👦';
    const parts = splitThread(family.repeat(400), 'bluesky'); // 10,000 bytes in one token
    expectWellFormed(parts, 'bluesky');
    for (const part of parts) {
      const chunk = chunkOf(part);
      expect(chunk.length % family.length).toBe(0);
      expect(graphemeCount(chunk)).toBe(chunk.length / family.length);
    }
    expect(parts.map(chunkOf).join('')).toBe(family.repeat(400));
  });

  it('cuts an over-long Bluesky word before the URL it carries, not inside it', () => {
    const link = 'https://example.org/page-officielle';
    const word = `${'a'.repeat(280)}${link}`;
    const parts = splitThread(`${word} fin`, 'bluesky');
    expectWellFormed(parts, 'bluesky');
    expect(chunkOf(parts[0] ?? '')).toBe('a'.repeat(280));
    expect(parts[1]).toContain(link);
  });

  it('keeps lone punctuation with its word, and lets go of it rather than cut a URL', () => {
    const parts = splitThread(`${'Bienvenue ! '.repeat(40)}`, 'x');
    expectWellFormed(parts, 'x');
    for (const part of parts) expect(part).toMatch(/^Bienvenue ! .* \d+\/\d+$/);
    // A 296-grapheme URL with " !" attached does not fit beside " 1/2" on Bluesky: the "!" goes.
    const link = `https://example.org/${'a'.repeat(276)}`;
    const thread = splitThread(`${link} ! Et la suite.`, 'bluesky');
    expect(thread).toEqual([`${link} 1/2`, '! Et la suite. 2/2']);
  });

  it('cuts a URL only when it cannot fit at all (Bluesky, over 300 graphemes)', () => {
    const link = `https://example.org/${'a'.repeat(400)}`;
    const parts = splitThread(`Voir ${link}`, 'bluesky');
    expectWellFormed(parts, 'bluesky');
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map(chunkOf).join('')).toBe(`Voir${link}`);
  });

  it('widens the numbering when there are ten parts or more', () => {
    const text = Array.from({ length: 400 }, (_, i) => `Phrase numéro ${i}.`).join(' ');
    const parts = splitThread(text, 'x');
    expect(parts.length).toBeGreaterThanOrEqual(10);
    expectWellFormed(parts, 'x');
    expect(parts[0]).toMatch(/ 1\/\d\d$/);
    expect(parts.map(chunkOf).join(' ')).toBe(text);
  });

  it('drops whitespace between parts and trims the ends', () => {
    const text = `   ${S1}\n\n${S2}\n\n${S3}   `;
    expect(splitThread(text, 'x')).toEqual([`${S1}\n\n${S2} 1/2`, `${S3} 2/2`]);
    expect(splitThread(`${'a '.repeat(5)}${' '.repeat(400)}`, 'x')).toEqual(['a a a a a']);
    expect(splitThread(' '.repeat(400), 'x')).toEqual([]);
  });

  it('does not break at no-break spaces nor at a space carrying a combining mark', () => {
    const words = Array.from({ length: 70 }, (_, i) => `Bienvenue\u00a0! Ça\u202fva ? x${i} \u0301y`);
    const text = words.join(' ');
    for (const network of NETWORKS) {
      const parts = splitThread(text, network, { limits: { mastodon: { maxCharacters: 300 } } });
      for (const part of parts) {
        expect(measure(part, network, { mastodon: { maxCharacters: 300 } }).fits).toBe(true);
        expect(part).not.toMatch(/^(?:[\u00a0\u202f!?]|\u0301)/);
        expect(chunkOf(part)).not.toMatch(/[\u00a0\u202f]$/);
      }
    }
  });

  it('breaks at a no-break space only when the words it binds cannot share a part', () => {
    const link = `https://www.tours.fr/${'-'.repeat(250)}z.`;
    const text = `${link}\u00a0@agent@mastodon.social. Suite`;
    expect(splitThread(text, 'bluesky')).toEqual([`${link} 1/2`, '@agent@mastodon.social. Suite 2/2']);
  });

  it('can leave the numbering out', () => {
    const parts = splitThread(FRENCH, 'x', { numbering: false });
    expect(parts).toEqual([`${S1} ${S2}`, S3]);
  });

  it('honours per-instance Mastodon limits', () => {
    const parts = splitThread(FRENCH, 'mastodon', { limits: { mastodon: { maxCharacters: 100 } } });
    expect(parts.length).toBeGreaterThan(3);
    for (const part of parts) {
      expect(measure(part, 'mastodon', { mastodon: { maxCharacters: 100 } }).fits).toBe(true);
    }
    expect(splitThread(FRENCH, 'mastodon', { limits: { mastodon: { maxCharacters: 1000 } } })).toEqual([
      FRENCH,
    ]);
  });

  it('refuses a limit too small for any text beside the numbering', () => {
    expect(() => splitThread('abc def', 'mastodon', { limits: { mastodon: { maxCharacters: 4 } } })).toThrow(
      InputError,
    );
  });
});

describe('tokenize', () => {
  // Reference: walk every grapheme cluster; clusters made only of breakable white space separate
  // tokens. tokenize() must agree while consulting the segmenter only around unusual characters.
  function reference(text: string): [number, number][] {
    const tokens: [number, number][] = [];
    let start = -1;
    for (const { index, segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(
      text,
    )) {
      if (/^[^\S\u00a0\u2007\u202f\ufeff]+$/u.test(segment)) {
        if (start >= 0) tokens.push([start, index]);
        start = -1;
      } else if (start < 0) start = index;
    }
    if (start >= 0) tokens.push([start, text.length]);
    return tokens;
  }

  it('agrees with a cluster-by-cluster reference', () => {
    const pieces = fc.constantFrom(
      ' ',
      '  ',
      '\n',
      '\r\n',
      '\t',
      '\u00a0',
      '\u2028',
      '\u3000',
      'mot',
      'é',
      'e\u0301',
      '\u0301',
      '\u0903',
      '\u200d',
      '\u0600',
      '\u0600 ',
      '😀',
      '👍🏽',
      '🏽',
      '🇫🇷',
      '🇫',
      '日本',
      '\ud83d',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 30 }), (list) => {
        const text = list.join('');
        expect(wordRuns(text)).toEqual(reference(text));
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) },
    );
  });

  it('marks sentence ends and line ends, and keeps lone punctuation with its word', () => {
    const text = 'Fin. Suite « citée. » encore\nligne\n\n! autre… Bienvenue ! Ça va ? dernier';
    expect(tokenize(text).map((t) => [text.slice(t.start, t.end), t.sentenceEnd])).toEqual([
      ['Fin.', true],
      ['Suite', false],
      ['« citée. »', true],
      ['encore', true],
      ['ligne', true],
      ['!', true],
      ['autre…', true],
      ['Bienvenue !', true],
      ['Ça', false],
      ['va ?', true],
      ['dernier', true],
    ]);
  });
});

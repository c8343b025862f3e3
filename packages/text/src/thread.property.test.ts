// Property tests of splitThread over random multilingual text (see arbitraries.test-support.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkThread, chunks, text, tooLongFor } from './arbitraries.test-support.ts';
import { measure } from './measure.ts';
import { splitThread, splitThreadWith } from './thread.ts';

const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 1000);

describe('splitThread properties: X and Bluesky', () => {
  it('X: parts fit, words kept in order, entities whole', () => {
    fc.assert(
      fc.property(text(700, 60), ({ text, entities }) => {
        checkThread(text, entities, 'x');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('X: every text too long for a post becomes a thread of fitting parts', () => {
    fc.assert(
      fc.property(tooLongFor(text(700, 60), 'x'), ({ text, entities }) => {
        expect(checkThread(text, entities, 'x').length).toBeGreaterThan(1);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
  });

  it('Bluesky: parts fit (graphemes and bytes), words kept in order, entities whole', () => {
    fc.assert(
      fc.property(text(250, 60), ({ text, entities }) => {
        checkThread(text, entities, 'bluesky');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('Bluesky: every text too long for a post becomes a thread of fitting parts', () => {
    fc.assert(
      fc.property(tooLongFor(text(250, 60), 'bluesky'), ({ text, entities }) => {
        expect(checkThread(text, entities, 'bluesky').length).toBeGreaterThan(1);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
  });
});

describe('splitThread properties: Mastodon', () => {
  it('Mastodon (default and per-instance limits): parts fit, words kept in order, entities whole', () => {
    const limits = fc.option(
      fc.record(
        {
          maxCharacters: fc.integer({ min: 100, max: 800 }),
          charactersReservedPerUrl: fc.integer({ min: 10, max: 40 }),
        },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    );
    fc.assert(
      fc.property(text(700, 100), limits, ({ text, entities }, mastodon) => {
        checkThread(text, entities, 'mastodon', mastodon === undefined ? undefined : { mastodon });
      }),
      { numRuns: NUM_RUNS },
    );
    const tooLong = fc
      .tuple(text(700, 100), limits)
      .filter(([{ text }, mastodon]) => !measure(text.trim(), 'mastodon', mastodon && { mastodon }).fits);
    fc.assert(
      fc.property(tooLong, ([{ text, entities }, mastodon]) => {
        const parts = checkThread(text, entities, 'mastodon', mastodon && { mastodon });
        expect(parts.length).toBeGreaterThan(1);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
  });
});

describe('splitThread properties: words longer than a post', () => {
  it('words too long for any part are cut, every part fits and no content is lost', () => {
    const longWord = fc.oneof(
      fc.integer({ min: 250, max: 900 }).map((n) => 'é'.repeat(n)),
      fc.integer({ min: 100, max: 400 }).map((n) => '👨‍👩‍👧‍👦'.repeat(n)),
      fc.integer({ min: 280, max: 900 }).map((n) => `https://example.org/${'a'.repeat(n)}`),
      fc.integer({ min: 150, max: 400 }).map((n) => `${'b'.repeat(n)}#hashtag${'c'.repeat(n)}`),
    );
    const mixed = fc
      .tuple(text(100, 30), longWord, text(100, 30))
      .map(([a, long, b]) => `${a.text} ${long} ${b.text}`);
    const network = fc.constantFrom('x' as const, 'bluesky' as const, 'mastodon' as const);
    fc.assert(
      fc.property(mixed, network, fc.boolean(), (source, network, numbering) => {
        const parts = splitThread(source, network, { numbering });
        for (const part of parts) expect(measure(part, network).fits).toBe(true);
        const bodies = numbering ? chunks(parts) : parts;
        expect(bodies.join('').replace(/\s/g, '')).toBe(source.replace(/\s/g, ''));
        // Grapheme clusters are never split: every part is well-formed UTF-16.
        for (const body of bodies) expect(body.isWellFormed()).toBe(true);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 3) },
    );
  });
});

// splitThread chooses parts from token lengths summed across white space, on the grounds that no
// URL, mention, emoji or grapheme cluster spans white space. Measuring every candidate instead
// must give the very same thread.
describe('splitThread estimates', () => {
  it('give the same parts as measuring every candidate', () => {
    const network = fc.constantFrom('x' as const, 'bluesky' as const, 'mastodon' as const);
    fc.assert(
      fc.property(text(600, 80), network, ({ text }, network) => {
        expect(splitThreadWith(text, network, undefined, 'estimates')).toEqual(
          splitThreadWith(text, network, undefined, 'exact'),
        );
      }),
      { numRuns: Math.ceil(NUM_RUNS / 4) },
    );
  });
});

// A text short enough to fit whatever it holds is returned whole without being measured: texts
// packed with the pieces that count more than their length (tiny URLs, emoji, marks) near the
// limit must still fit, measured, whenever they come back as one part.
describe('splitThread on short texts', () => {
  it('gives a text back whole only when it fits', () => {
    const piece = fc.constantFrom(
      'http://a.co',
      'https://x.io/',
      'a.co',
      '@a@b.cd',
      '@bob',
      'e\u0301',
      '🇫🇷',
      '👩‍👩‍👧',
      '中',
      '\r\n',
      ' ',
      'a',
      '#tag',
    );
    const short = fc.array(piece, { minLength: 1, maxLength: 120 }).map((pieces) => pieces.join(''));
    const mastodon = fc.record({
      maxCharacters: fc.integer({ min: 20, max: 500 }),
      charactersReservedPerUrl: fc.integer({ min: 0, max: 40 }),
    });
    const network = fc.constantFrom('x' as const, 'bluesky' as const, 'mastodon' as const);
    fc.assert(
      fc.property(short, network, mastodon, (text, network, limits) => {
        const parts = splitThread(text, network, { limits: { mastodon: limits } });
        const fits = measure(text, network, { mastodon: limits }).fits;
        if (parts.length === 1 && parts[0] === text) expect(fits).toBe(true);
        if (fits) expect(parts).toEqual([text]);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_MASTODON_LIMITS } from './count.ts';
import { describeLength, measure } from './measure.ts';

const FAMILY4 = '👨‍👩‍👧‍👦'; // 25 bytes, one grapheme
const url = (n: number): string => `https://example.org/${'p'.repeat(n)}`;

describe('measure', () => {
  it('reports X in weighted characters against 280', () => {
    const text = `Fête de la musique 🎶 ${url(100)}`;
    expect(measure(text, 'x')).toEqual({
      network: 'x',
      length: 19 + 2 + 1 + 23,
      limit: 280,
      unit: 'characters',
      bytes: Buffer.byteLength(text),
      urls: 1,
      urlLength: 23,
      fits: true,
    });
  });

  it('fits X up to exactly 280', () => {
    expect(measure('a'.repeat(280), 'x').fits).toBe(true);
    expect(measure('a'.repeat(281), 'x').fits).toBe(false);
    expect(measure('日'.repeat(140), 'x').fits).toBe(true);
    expect(measure('日'.repeat(141), 'x').fits).toBe(false);
  });

  it('counts bare domains as links on X', () => {
    expect(measure('tours.fr et https://tours.fr/agenda', 'x')).toMatchObject({ urls: 2, length: 50 });
  });

  it('reports Bluesky in graphemes and bytes', () => {
    const text = 'Été 👨‍👩‍👧 e\u0301';
    expect(measure(text, 'bluesky')).toEqual({
      network: 'bluesky',
      length: 7,
      limit: 300,
      unit: 'graphemes',
      bytes: Buffer.byteLength(text),
      byteLimit: 3000,
      urls: 0,
      fits: true,
    });
    expect(measure(url(400), 'bluesky')).toMatchObject({ length: 420, urls: 0, fits: false });
  });

  it('accepts 300 four-byte emoji on Bluesky (1200 bytes)', () => {
    const report = measure('😀'.repeat(300), 'bluesky');
    expect(report).toMatchObject({ length: 300, bytes: 1200, fits: true });
    expect(measure('😀'.repeat(301), 'bluesky').fits).toBe(false);
  });

  it('rejects fewer than 300 graphemes on Bluesky when they exceed 3000 bytes', () => {
    const report = measure(FAMILY4.repeat(130), 'bluesky');
    expect(report).toMatchObject({ length: 130, bytes: 3250, fits: false });
    expect(measure(FAMILY4.repeat(120), 'bluesky')).toMatchObject({ bytes: 3000, fits: true });
  });

  it('reports Mastodon against 500 with URLs at 23 by default', () => {
    expect(DEFAULT_MASTODON_LIMITS).toEqual({ maxCharacters: 500, charactersReservedPerUrl: 23 });
    const text = `${'a'.repeat(450)} ${url(300)} @agent@mastodon.social`;
    expect(measure(text, 'mastodon')).toMatchObject({
      network: 'mastodon',
      length: 450 + 1 + 23 + 1 + 6,
      limit: 500,
      unit: 'characters',
      urls: 1,
      urlLength: 23,
      fits: true,
    });
    expect(measure('a'.repeat(501), 'mastodon').fits).toBe(false);
  });

  it('applies per-instance Mastodon limits', () => {
    const text = `${'a'.repeat(900)} ${url(10)}`;
    expect(measure(text, 'mastodon').fits).toBe(false);
    expect(
      measure(text, 'mastodon', { mastodon: { maxCharacters: 1000, charactersReservedPerUrl: 30 } }),
    ).toMatchObject({ length: 931, limit: 1000, urlLength: 30, fits: true });
    // A partial override keeps the other default.
    expect(measure(text, 'mastodon', { mastodon: { maxCharacters: 924 } })).toMatchObject({
      length: 924,
      urlLength: 23,
      fits: true,
    });
  });

  it('ignores Mastodon overrides for the other networks', () => {
    const limits = { mastodon: { maxCharacters: 5 } };
    expect(measure('Bonjour', 'x', limits).fits).toBe(true);
    expect(measure('Bonjour', 'bluesky', limits).fits).toBe(true);
    expect(measure('Bonjour', 'mastodon', limits).fits).toBe(false);
  });

  it('measures the empty text', () => {
    for (const network of ['x', 'bluesky', 'mastodon'] as const) {
      expect(measure('', network)).toMatchObject({ length: 0, bytes: 0, urls: 0, fits: true });
    }
  });
});

describe('describeLength', () => {
  it('words an X length with one link', () => {
    expect(describeLength(measure(`${'a'.repeat(288)} ${url(50)}`, 'x'))).toBe(
      '312 characters for X; the limit is 280 (a link counts as 23)',
    );
  });

  it('words an X length with several links', () => {
    expect(describeLength(measure(`${'a'.repeat(264)} ${url(5)} ${url(90)}`, 'x'))).toBe(
      '312 characters for X; the limit is 280 (each link counts as 23)',
    );
  });

  it('omits the link note when there is no link', () => {
    expect(describeLength(measure('a'.repeat(300), 'x'))).toBe('300 characters for X; the limit is 280');
  });

  it('words a Bluesky length in graphemes', () => {
    expect(describeLength(measure('é'.repeat(305), 'bluesky'))).toBe(
      '305 graphemes for Bluesky; the limit is 300',
    );
  });

  it('words a Bluesky length in bytes when bytes are the problem', () => {
    expect(describeLength(measure(`${FAMILY4.repeat(124)}aaaa`, 'bluesky'))).toBe(
      '3104 bytes for Bluesky; the limit is 3000 bytes',
    );
  });

  it('words a Bluesky text over both limits', () => {
    expect(describeLength(measure(FAMILY4.repeat(310), 'bluesky'))).toBe(
      '310 graphemes and 7750 bytes for Bluesky; the limits are 300 graphemes and 3000 bytes',
    );
  });

  it('words a Mastodon length with its link note', () => {
    expect(describeLength(measure(`${'a'.repeat(496)} ${url(80)}`, 'mastodon'))).toBe(
      '520 characters for Mastodon; the limit is 500 (a link counts as 23)',
    );
    expect(
      describeLength(
        measure(`${'a'.repeat(10)} ${url(80)}`, 'mastodon', { mastodon: { charactersReservedPerUrl: 30 } }),
      ),
    ).toBe('41 characters for Mastodon; the limit is 500 (a link counts as 30)');
  });

  it('uses the singular for one unit', () => {
    expect(describeLength(measure('a', 'mastodon'))).toBe('1 character for Mastodon; the limit is 500');
    expect(describeLength(measure('a', 'bluesky'))).toBe('1 grapheme for Bluesky; the limit is 300');
  });
});

import { describe, expect, it } from 'vitest';
import * as entry from './index.ts';
import { blueskyFacets, type Facet } from './index.ts';

function slice(text: string, facet: Facet): string {
  return Buffer.from(text).subarray(facet.index.byteStart, facet.index.byteEnd).toString();
}

describe('blueskyFacets', () => {
  it('finds nothing in plain text', () => {
    expect(blueskyFacets('Bonjour à toutes et à tous.')).toEqual([]);
    expect(blueskyFacets('')).toEqual([]);
  });

  it('finds an http(s) link, trailing punctuation excluded', () => {
    const text = 'Programme : https://www.tours.fr/agenda?mois=12.';
    expect(blueskyFacets(text)).toEqual([
      {
        index: { byteStart: 12, byteEnd: 47 },
        features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://www.tours.fr/agenda?mois=12' }],
      },
    ]);
  });

  it('links a bare domain with https:// prefixed', () => {
    const text = 'Tout est sur tours.fr/sortir';
    const [facet] = blueskyFacets(text);
    expect(facet?.features).toEqual([
      { $type: 'app.bsky.richtext.facet#link', uri: 'https://tours.fr/sortir' },
    ]);
    expect(facet && slice(text, facet)).toBe('tours.fr/sortir');
  });

  it('does not link a word with an unknown top-level domain', () => {
    expect(blueskyFacets('fin.Voir la suite')).toEqual([]);
  });

  it('finds a mention, with the handle in did until it is resolved', () => {
    const text = 'Merci @tours.fr et @agent.bsky.social !';
    expect(blueskyFacets(text)).toEqual([
      {
        index: { byteStart: 6, byteEnd: 15 },
        features: [{ $type: 'app.bsky.richtext.facet#mention', did: 'tours.fr' }],
      },
      {
        index: { byteStart: 19, byteEnd: 37 },
        features: [{ $type: 'app.bsky.richtext.facet#mention', did: 'agent.bsky.social' }],
      },
    ]);
  });

  it('does not take a Mastodon address or an e-mail address for a Bluesky mention', () => {
    expect(
      blueskyFacets('@ville@mastodon.social').filter((f) => f.features[0]?.$type.endsWith('#mention')),
    ).toEqual([]);
    expect(
      blueskyFacets('contact@tours.fr').filter((f) => f.features[0]?.$type.endsWith('#mention')),
    ).toEqual([]);
  });

  it('finds hashtags, without trailing punctuation, and not all-digit ones', () => {
    const text = 'Fête #Tours2025! #123 #ÉtéCulturel, #日本';
    const facets = blueskyFacets(text);
    expect(facets.map((f) => f.features[0])).toEqual([
      { $type: 'app.bsky.richtext.facet#tag', tag: 'Tours2025' },
      { $type: 'app.bsky.richtext.facet#tag', tag: 'ÉtéCulturel' },
      { $type: 'app.bsky.richtext.facet#tag', tag: '日本' },
    ]);
    expect(facets.map((f) => slice(text, f))).toEqual(['#Tours2025', '#ÉtéCulturel', '#日本']);
  });

  it('counts offsets in UTF-8 bytes, after accents, emoji and ZWJ sequences', () => {
    const text = 'Été 👨‍👩‍👧 🇫🇷 e\u0301 #fête https://tours.fr @tours.fr';
    const facets = blueskyFacets(text);
    expect(facets.map((f) => slice(text, f))).toEqual(['#fête', 'https://tours.fr', '@tours.fr']);
    expect(facets[0]?.index.byteStart).toBe(Buffer.byteLength('Été 👨‍👩‍👧 🇫🇷 e\u0301 '));
  });

  it('sorts facets by byteStart', () => {
    const text = '#un https://a.fr @b.bsky.social #deux c.fr';
    const starts = blueskyFacets(text).map((f) => f.index.byteStart);
    expect(starts).toHaveLength(5);
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });
});

describe('@sunset/text entry point', () => {
  it('exports exactly the public API', () => {
    expect(Object.keys(entry).sort()).toEqual([
      'DEFAULT_MASTODON_LIMITS',
      'DEFAULT_X_PRICES',
      'X_PRICE_NAMES',
      'blueskyFacets',
      'costOf',
      'describeLength',
      'describeRefused',
      'formatUsd',
      'graphemeCount',
      'mastodonLength',
      'measure',
      'parseXPrices',
      'splitThread',
      'usdToMicros',
      'utf8Length',
      'xHasUrl',
      'xLinkCostWarning',
      'xRefusedCharacters',
      'xWeightedLength',
    ]);
  });

  it('freezes the default Mastodon limits', () => {
    expect(Object.isFrozen(entry.DEFAULT_MASTODON_LIMITS)).toBe(true);
  });
});

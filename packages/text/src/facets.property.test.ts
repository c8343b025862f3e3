import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { text } from './arbitraries.test-support.ts';
import { blueskyFacets } from './facets.ts';

const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 1000);

describe('blueskyFacets properties', () => {
  it('byte ranges are exact, inside the text, sorted and disjoint', () => {
    fc.assert(
      fc.property(text(300, 40), ({ text }) => {
        const bytes = Buffer.from(text);
        let previousEnd = 0;
        for (const facet of blueskyFacets(text)) {
          const { byteStart, byteEnd } = facet.index;
          expect(byteStart).toBeGreaterThanOrEqual(previousEnd);
          expect(byteEnd).toBeGreaterThan(byteStart);
          expect(byteEnd).toBeLessThanOrEqual(bytes.length);
          previousEnd = byteEnd;
          const slice = bytes.subarray(byteStart, byteEnd).toString();
          const [feature] = facet.features;
          expect(facet.features).toHaveLength(1);
          switch (feature?.$type) {
            case 'app.bsky.richtext.facet#link':
              expect([slice, `https://${slice}`]).toContain(feature.uri);
              break;
            case 'app.bsky.richtext.facet#mention':
              expect(slice).toBe(`@${feature.did}`);
              break;
            case 'app.bsky.richtext.facet#tag':
              if (feature.tag.startsWith('$')) expect(slice.toUpperCase()).toBe(feature.tag);
              else expect(['#', '＃'].map((sign) => sign + feature.tag)).toContain(slice);
              break;
            default:
              throw new Error(`unexpected facet ${JSON.stringify(facet)}`);
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('finds every generated URL, Bluesky mention and hashtag', () => {
    fc.assert(
      fc.property(text(300, 40), ({ text, entities }) => {
        const found = blueskyFacets(text).map((f) =>
          Buffer.from(text).subarray(f.index.byteStart, f.index.byteEnd).toString(),
        );
        for (const e of entities) {
          if (e.startsWith('@') && e.indexOf('@', 1) > 0) continue; // a Mastodon address is no Bluesky mention
          if (e.startsWith('#') && /^#\d+$/.test(e)) continue;
          // Bluesky's link may run on over trailing punctuation such as '…' or '»'.
          expect(found.some((slice) => slice.startsWith(e))).toBe(true);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

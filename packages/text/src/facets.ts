import { createRequire } from 'node:module';
import type { RichText as RichTextClass } from '@atproto/api';

// @atproto/api takes about a second and 100 MB to load; most users of this package only measure
// lengths, so it is loaded on the first call that needs facets. It is CommonJS, so `require`
// keeps blueskyFacets synchronous.
let richText: typeof RichTextClass | undefined;
function loadRichText(): typeof RichTextClass {
  richText ??= (createRequire(import.meta.url)('@atproto/api') as { RichText: typeof RichTextClass })
    .RichText;
  return richText;
}

export type FacetFeature =
  | { $type: 'app.bsky.richtext.facet#link'; uri: string }
  /** `did` holds the handle (e.g. 'tours.fr') until a connector resolves it to a DID. */
  | { $type: 'app.bsky.richtext.facet#mention'; did: string }
  | { $type: 'app.bsky.richtext.facet#tag'; tag: string };

/** A Bluesky rich-text facet; `byteStart`/`byteEnd` are UTF-8 byte offsets into the text. */
export type Facet = {
  index: { byteStart: number; byteEnd: number };
  features: FacetFeature[];
};

function toFeature(raw: { $type: string }): FacetFeature | undefined {
  const feature: { $type: string; uri?: unknown; did?: unknown; tag?: unknown } = raw;
  switch (feature.$type) {
    case 'app.bsky.richtext.facet#link':
      return typeof feature.uri === 'string' ? { $type: feature.$type, uri: feature.uri } : undefined;
    case 'app.bsky.richtext.facet#mention':
      return typeof feature.did === 'string' ? { $type: feature.$type, did: feature.did } : undefined;
    case 'app.bsky.richtext.facet#tag':
      return typeof feature.tag === 'string' ? { $type: feature.$type, tag: feature.tag } : undefined;
    default:
      return undefined;
  }
}

/**
 * The facets Bluesky's own client would attach to `text`, found without any network call:
 * links (http(s) URLs, and bare domains with a known TLD, which get `https://` prefixed),
 * mentions `@handle.domain` (the handle goes in `did`, to be resolved by the connector),
 * hashtags `#tag` (not all digits, trailing punctuation stripped) and cashtags `$TICKER` (as tag
 * facets, like the client does). Sorted by `byteStart`, never overlapping.
 *
 * Detection is `@atproto/api`'s `RichText#detectFacetsWithoutResolution`, i.e. the same code
 * as the Bluesky app.
 */
export function blueskyFacets(text: string): Facet[] {
  const rt = new (loadRichText())({ text });
  rt.detectFacetsWithoutResolution();
  const facets: Facet[] = [];
  for (const facet of rt.facets ?? []) {
    const features = facet.features
      .map((feature) => toFeature(feature))
      .filter((feature) => feature !== undefined);
    const { byteStart, byteEnd } = facet.index;
    if (features.length === 0 || byteStart >= byteEnd) continue;
    facets.push({ index: { byteStart, byteEnd }, features });
  }
  facets.sort((a, b) => a.index.byteStart - b.index.byteStart || a.index.byteEnd - b.index.byteEnd);
  // Bluesky's detectors do not overlap in practice; keep the first should they ever.
  const kept: Facet[] = [];
  for (const facet of facets) {
    const last = kept.at(-1);
    if (last && last.index.byteEnd > facet.index.byteStart) continue;
    kept.push(facet);
  }
  return kept;
}

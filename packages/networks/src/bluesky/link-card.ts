/**
 * Link cards the way Bluesky's app makes them, since the network does not: read the page's Open
 * Graph tags and fetch its image. The page is someone else's server, so every read is bounded in
 * time and size, and nothing here may fail a post (the caller posts without a card instead).
 */
import { Parser } from 'htmlparser2';
import {
  createGuardedClient,
  FetchFailedError,
  FetchRefusedError,
  type GuardedClient,
} from '../http/guarded-client.ts';

export interface PageCard {
  /** The page as it was asked for (what the card links to). */
  uri: string;
  title: string;
  description: string;
  /** Absolute URL of og:image, if the page names one. */
  imageUrl?: string;
}

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
}

export interface CardFetchOptions {
  /** The guarded client (with the operator's allow-list); by default one that allows no internal address. */
  client?: GuardedClient;
  signal?: AbortSignal;
  limits?: FetchLimits;
}

export const PAGE_LIMITS = { timeoutMs: 5_000, maxBytes: 1_000_000 } as const;
/** Raw image before shrinking; the thumb that is uploaded is at most 1,000,000 bytes. */
export const CARD_IMAGE_LIMITS = { timeoutMs: 5_000, maxBytes: 5_000_000 } as const;

const MAX_TITLE = 300;
const MAX_DESCRIPTION = 1000;

export class CardFetchError extends Error {}

let defaultClient: GuardedClient | undefined;

/** A GET through the guarded client: the address is someone else's, the page anyone's. */
async function boundedGet(
  url: string,
  accept: string,
  options: CardFetchOptions,
  limits: FetchLimits,
  truncate: boolean,
): Promise<{ body: Uint8Array; contentType: string; finalUrl: string }> {
  const client = options.client ?? (defaultClient ??= createGuardedClient());
  let response;
  try {
    response = await client.get(url, {
      accept,
      ...limits,
      truncate,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    // The client's own refusals and limits, as the card's errors (a timeout stays what it is).
    if (err instanceof FetchRefusedError || err instanceof FetchFailedError) {
      throw new CardFetchError(err.message, { cause: err });
    }
    throw err;
  }
  if (response.status < 200 || response.status > 299) throw new CardFetchError(`HTTP ${response.status}`);
  return {
    body: response.body,
    contentType: response.headers.get('content-type') ?? '',
    finalUrl: response.url,
  };
}

function decode(body: Uint8Array, contentType: string): string {
  const charset = /charset=["']?([\w-]+)/i.exec(contentType)?.[1] ?? 'utf-8';
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}

/** Open Graph (then Twitter card, then plain HTML) title, description and image of a page. */
export function parseCard(html: string, pageUrl: string): Omit<PageCard, 'uri'> {
  const meta = new Map<string, string>();
  let title = '';
  let inTitle = false;
  let done = false;
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (done) return;
        if (name === 'title') inTitle = true;
        if (name !== 'meta') return;
        const key = (attributes.property ?? attributes.name ?? '').toLowerCase();
        const content = attributes.content;
        // The first occurrence wins, as with Bluesky's card service.
        if (key && content !== undefined && !meta.has(key)) meta.set(key, content);
      },
      ontext(text) {
        if (inTitle && !done) title += text;
      },
      onclosetag(name) {
        if (name === 'title') inTitle = false;
        // Everything a card needs is in the head.
        if (name === 'head') done = true;
      },
    },
    { decodeEntities: true },
  );
  parser.write(html);
  parser.end();
  const clean = (value: string | undefined, max: number) =>
    (value ?? '').replace(/\s+/g, ' ').trim().slice(0, max);
  const image = meta.get('og:image') ?? meta.get('og:image:url') ?? meta.get('twitter:image');
  let imageUrl: string | undefined;
  if (image?.trim()) {
    try {
      imageUrl = new URL(image.trim(), pageUrl).toString();
    } catch {
      imageUrl = undefined;
    }
  }
  return {
    title: clean(meta.get('og:title') ?? meta.get('twitter:title') ?? title, MAX_TITLE),
    description: clean(
      meta.get('og:description') ?? meta.get('twitter:description') ?? meta.get('description'),
      MAX_DESCRIPTION,
    ),
    ...(imageUrl ? { imageUrl } : {}),
  };
}

/** The card for `url`; throws CardFetchError, FetchRefusedError or a fetch error when there is none to make. */
export async function fetchPageCard(url: string, options: CardFetchOptions = {}): Promise<PageCard> {
  const limits = options.limits ?? PAGE_LIMITS;
  const page = await boundedGet(url, 'text/html,application/xhtml+xml', options, limits, true);
  if (!/html/i.test(page.contentType)) throw new CardFetchError(`not an HTML page (${page.contentType})`);
  const card = parseCard(decode(page.body, page.contentType), page.finalUrl);
  if (!card.title && !card.description) throw new CardFetchError('the page has no title');
  return { uri: url, ...card };
}

export async function fetchCardImage(
  url: string,
  options: CardFetchOptions = {},
): Promise<{ data: Uint8Array; mediaType: string }> {
  const limits = options.limits ?? CARD_IMAGE_LIMITS;
  const image = await boundedGet(url, 'image/*', options, limits, false);
  const mediaType = image.contentType.split(';')[0]?.trim() ?? '';
  if (!mediaType.startsWith('image/')) throw new CardFetchError(`not an image (${mediaType})`);
  return { data: image.body, mediaType };
}

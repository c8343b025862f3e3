/**
 * CAP as publishers put it online: an Atom feed of CAP entries (MeteoAlarm's shape: one entry per
 * language, area and polygon of an alert, each embedding the CAP document or linking to it), an
 * RSS 2.0 feed whose items link to CAP documents, or a plain CAP document at the address. Read
 * with the same safe reader as an alert, with room for a feed's many entries; an entry that
 * cannot be read is reported, the others are kept.
 */
import { CapError } from './errors.ts';
import { CAP_ELEMENT_NAMES, capOfElement } from './parse.ts';
import { CAP_NAMESPACES, type CapAlert, type CapInfoBlock } from './types.ts';
import { readXml, type XmlElement } from './xml-reader.ts';

export const ATOM_NAMESPACE = 'http://www.w3.org/2005/Atom';
/** A feed is larger than one alert: this many bytes and elements at most. */
export const FEED_MAX_BYTES = 5 * 1024 * 1024;
export const FEED_MAX_ELEMENTS = 200_000;

export interface CapFeedEntry {
  /** The entry's Atom id, when it has one. */
  id?: string;
  /** The CAP alert the entry carries inside it. */
  alert?: CapAlert;
  /** Where the entry's CAP document is, when it links to it rather than embedding it. */
  capUrl?: string;
  /** When the entry says it last changed, as written (Atom's <updated>, RSS's <pubDate>). */
  updated?: string;
  /** The alert's identity as the entry's cap: elements state it, before the document is read. */
  identifier?: string;
  sender?: string;
  /** Why the entry gives no alert (its embedded CAP is malformed, it names none). */
  problem?: string;
}

export type CapFeed = { kind: 'atom' | 'rss'; entries: CapFeedEntry[] } | { kind: 'cap'; alert: CapAlert };

const FEED_NAMES: ReadonlySet<string> = new Set([
  'feed',
  'entry',
  'id',
  'link',
  'content',
  'title',
  'updated',
  'rss',
  'channel',
  'item',
  'guid',
  'enclosure',
  'pubDate',
  ...CAP_ELEMENT_NAMES,
]);
const CAP_URIS: ReadonlySet<string> = new Set(Object.values(CAP_NAMESPACES));

function child(element: XmlElement, local: string, uri?: string): XmlElement | undefined {
  return element.children.find((c) => c.local === local && (uri === undefined || c.uri === uri));
}

/** The first <alert> in a CAP namespace at or below `element`. */
function embeddedAlert(element: XmlElement): XmlElement | undefined {
  if (element.local === 'alert' && CAP_URIS.has(element.uri)) return element;
  for (const c of element.children) {
    const found = embeddedAlert(c);
    if (found) return found;
  }
  return undefined;
}

/** The entry's link to its CAP document: a link typed as CAP first, else its first link. */
function capLink(entry: XmlElement, base: string | undefined): string | undefined {
  const links = entry.children.filter((c) => c.local === 'link' && c.uri === ATOM_NAMESPACE);
  const typed = links.find((l) => /cap\+xml|application\/xml|text\/xml/i.test(attribute(l, 'type') ?? ''));
  return webUrl(attribute(typed ?? links[0], 'href'), base);
}

/**
 * Where an RSS 2.0 item's CAP document is: its enclosure of an XML type, else its <link>, else a
 * <guid> that is a permalink (RSS's default), as alerting authorities' RSS feeds give it.
 */
function rssCapLink(item: XmlElement, base: string | undefined): string | undefined {
  const enclosure = item.children.find(
    (c) => c.local === 'enclosure' && c.uri === '' && /xml/i.test(attribute(c, 'type') ?? ''),
  );
  const guid = child(item, 'guid', '');
  const permalink = guid !== undefined && attribute(guid, 'isPermaLink')?.trim() !== 'false';
  return (
    webUrl(attribute(enclosure, 'url'), base) ??
    webUrl(child(item, 'link', '')?.text, base) ??
    (permalink ? webUrl(guid.text, base) : undefined)
  );
}

/** An http(s) address from a feed, resolved against the feed's own; undefined for anything else. */
function webUrl(href: string | undefined, base: string | undefined): string | undefined {
  if (href === undefined || href.trim() === '') return undefined;
  try {
    const url = new URL(href.trim(), base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function attribute(element: XmlElement | undefined, name: string): string | undefined {
  return element?.attributes?.[name];
}

/** An Atom entry or an RSS item: the CAP it embeds, or where its CAP document is. */
function entryOf(entry: XmlElement, base: string | undefined): CapFeedEntry {
  const text = (local: string) => {
    const found = entry.children.find((c) => c.local === local && CAP_URIS.has(c.uri))?.text.trim();
    return found === undefined || found === '' ? undefined : found;
  };
  const rss = entry.local === 'item';
  const id = (rss ? child(entry, 'guid', '') : child(entry, 'id', ATOM_NAMESPACE))?.text.trim() || undefined;
  const identifier = text('identifier');
  const sender = text('sender');
  const updated = (rss ? child(entry, 'pubDate', '') : child(entry, 'updated', ATOM_NAMESPACE))?.text.trim();
  const common: CapFeedEntry = {
    ...(id ? { id } : {}),
    ...(updated ? { updated } : {}),
    ...(identifier ? { identifier } : {}),
    ...(sender ? { sender } : {}),
  };
  const embedded = embeddedAlert(entry);
  if (embedded) {
    try {
      return { ...common, alert: capOfElement(embedded) };
    } catch (err) {
      if (!(err instanceof CapError)) throw err;
      return { ...common, problem: `embedded CAP: ${err.message}` };
    }
  }
  const capUrl = rss ? rssCapLink(entry, base) : capLink(entry, base);
  if (capUrl) return { ...common, capUrl };
  return { ...common, problem: 'the entry neither embeds a CAP alert nor links to one' };
}

/**
 * Reads what a feed address answered: an Atom feed of CAP entries, an RSS 2.0 feed of CAP items
 * (the shape many national alerting authorities publish), or one CAP alert. Throws CapError when
 * it is none of these (or is not safe, well-formed XML). `base` resolves relative links;
 * `charset` is the transport's, for a document that declares no encoding.
 */
export function parseCapFeed(
  input: Uint8Array | string,
  options: { base?: string; charset?: string } = {},
): CapFeed {
  const root = readXml(input, FEED_MAX_BYTES, FEED_NAMES, FEED_MAX_ELEMENTS, options.charset);
  if (root.local === 'alert' && CAP_URIS.has(root.uri)) return { kind: 'cap', alert: capOfElement(root) };
  if (root.local === 'rss' && root.uri === '') {
    const channel = child(root, 'channel', '');
    const items = channel?.children.filter((c) => c.local === 'item' && c.uri === '') ?? [];
    return { kind: 'rss', entries: items.map((item) => entryOf(item, options.base)) };
  }
  if (root.local !== 'feed' || root.uri !== ATOM_NAMESPACE) {
    throw new CapError([
      {
        path: 'feed',
        message: `the document is neither an Atom feed (<feed xmlns="${ATOM_NAMESPACE}">), an RSS 2.0 feed (<rss>) nor a CAP alert`,
        line: root.line,
        column: root.column,
      },
    ]);
  }
  const entries = root.children
    .filter((c) => c.local === 'entry' && c.uri === ATOM_NAMESPACE)
    .map((entry) => entryOf(entry, options.base));
  return { kind: 'atom', entries };
}

/** MeteoAlarm's awareness level ("2; yellow; Moderate") and type ("1; Wind"), decoded. */
export interface Awareness {
  level?: { rank: number; colour: 'green' | 'yellow' | 'orange' | 'red'; label: string };
  type?: { code: number; name: string };
}

const COLOURS = ['green', 'yellow', 'orange', 'red'] as const;

/** The awareness parameters of a block, as MeteoAlarm's CAP profile writes them; {} when absent or unreadable. */
export function awarenessOf(info: Pick<CapInfoBlock, 'parameters'>): Awareness {
  const awareness: Awareness = {};
  for (const { valueName, value } of info.parameters) {
    const fields = value.split(';').map((f) => f.trim());
    if (valueName === 'awareness_level') {
      const colour = fields[1]?.toLowerCase();
      const rank = Number(fields[0]);
      if (Number.isInteger(rank) && (COLOURS as readonly string[]).includes(colour ?? '')) {
        awareness.level = {
          rank,
          colour: colour as (typeof COLOURS)[number],
          label: fields[2] ?? '',
        };
      }
    } else if (valueName === 'awareness_type') {
      const code = Number(fields[0]);
      if (Number.isInteger(code) && fields[1]) awareness.type = { code, name: fields[1] };
    }
  }
  return awareness;
}

/** The rank of an awareness colour (yellow 2, orange 3, red 4), for thresholds. */
export function awarenessRank(colour: string): number {
  return COLOURS.indexOf(colour as (typeof COLOURS)[number]) + 1;
}

/** A line saying the awareness level and type in the office's language (French, else English). */
export function awarenessText(awareness: Awareness, language: string): string | undefined {
  const { level, type } = awareness;
  if (!level) return undefined;
  const french = language.split('-')[0]?.toLowerCase() === 'fr';
  const colours = french
    ? { green: 'verte', yellow: 'jaune', orange: 'orange', red: 'rouge' }
    : { green: 'Green', yellow: 'Yellow', orange: 'Orange', red: 'Red' };
  const head = french ? `Vigilance ${colours[level.colour]}` : `${colours[level.colour]} warning`;
  if (!type) return head;
  return french ? `${head} : ${type.name}` : `${head}: ${type.name}`;
}

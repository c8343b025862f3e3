/**
 * Whether a post X returns is the one we sent. X does not give text back as it was sent: every
 * link becomes a t.co link (the original is in `entities.urls[].expanded_url`), "&", "<" and ">"
 * come back HTML-escaped, and a link to the attached photos is appended. Reconciliation after
 * an unknown outcome depends on this comparison, so it is kept pure and tested on its own.
 */

export interface ReturnedUrl {
  url: string;
  expanded_url?: string;
  media_key?: string;
}

const ANY_LINK = /https?:\/\/[^\s<>"]+/g;
const LINK_MARK = '\u0001';

function unescapeHtml(text: string): string {
  // &amp; last, so that "&amp;lt;" (a literal "&lt;" that was sent) stays "&lt;".
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function normalise(text: string): string {
  return text.normalize('NFC').replace(/\r\n/g, '\n').trim();
}

function isMediaLink(entity: ReturnedUrl): boolean {
  return (
    entity.media_key !== undefined ||
    /^https?:\/\/(x|twitter)\.com\/[^/]+\/status\/\d+\/(photo|video)\/\d+$/.test(entity.expanded_url ?? '')
  );
}

function withoutMediaLinks(text: string, urls: readonly ReturnedUrl[]): string {
  let out = text;
  for (const entity of urls) {
    if (isMediaLink(entity)) out = out.split(entity.url).join('');
  }
  return out;
}

/** The text as it was most likely sent: links expanded, media link removed, HTML unescaped. */
export function expandReturnedText(returned: string, urls: readonly ReturnedUrl[] = []): string {
  let out = withoutMediaLinks(returned, urls);
  for (const entity of urls) {
    if (!isMediaLink(entity) && entity.expanded_url) out = out.split(entity.url).join(entity.expanded_url);
  }
  return normalise(unescapeHtml(out));
}

/** Text with every link replaced by one mark and runs of white space collapsed. */
function shape(text: string, knownLinks: readonly string[]): string {
  let out = text;
  for (const link of knownLinks) if (link) out = out.split(link).join(LINK_MARK);
  return normalise(out.replace(ANY_LINK, LINK_MARK)).replace(/\s+/g, ' ');
}

/**
 * True when `returned` (with its URL entities) is the post whose text was `sent`: first exactly,
 * once links are expanded; failing that (X rewrote a link, or gave no entities), by the words
 * around the links, each link counting as one token wherever it points.
 */
export function matchesSentText(sent: string, returned: string, urls: readonly ReturnedUrl[] = []): boolean {
  const wanted = normalise(sent);
  if (expandReturnedText(returned, urls) === wanted) return true;
  // Links X found that the sender wrote without a scheme ("ville.fr") are masked in both texts.
  const expanded = urls
    .filter((u) => !isMediaLink(u))
    .flatMap((u) => (u.expanded_url ? [u.expanded_url, u.expanded_url.replace(/^https?:\/\//, '')] : []))
    .sort((a, b) => b.length - a.length);
  const returnedShape = shape(unescapeHtml(withoutMediaLinks(returned, urls)), []);
  return returnedShape === shape(wanted, expanded);
}

import type { CapAlert, CapInfoBlock, CapMsgType } from './types.ts';

function primaryTag(language: string): string {
  return language.split('-')[0]?.toLowerCase() ?? '';
}

/** The languages to look for when none is configured: the office's own, then English. */
export function capLanguages(locale: string, configured?: readonly string[]): string[] {
  const wanted = configured !== undefined && configured.length > 0 ? configured : [locale, 'en'];
  return [...new Set(wanted)];
}

export interface InfoChoice {
  info: CapInfoBlock;
  /** The wanted language the block matched; undefined when none did and the first block stands in. */
  matched?: string;
}

/**
 * The info block to post, by `languages` in order of preference: for each, a block of exactly
 * that language, else of the same primary language (fr-FR matches fr and fr-CA). When none
 * matches, the first block stands in, with `matched` undefined so the caller can say so.
 * Undefined when the alert has no block at all (a valid Update or Cancel may have none).
 */
export function chooseInfo(
  alert: Pick<CapAlert, 'infos'>,
  languages: readonly string[],
): InfoChoice | undefined {
  for (const language of languages) {
    const wanted = language.toLowerCase();
    const info =
      alert.infos.find((block) => block.language.toLowerCase() === wanted) ??
      alert.infos.find((block) => primaryTag(block.language) === primaryTag(wanted));
    if (info !== undefined) return { info, matched: language };
  }
  const first = alert.infos[0];
  return first === undefined ? undefined : { info: first };
}

export interface CapTextOptions {
  /** Update and Cancel are announced as such, so readers do not take them for a new alert. */
  msgType?: CapMsgType;
  /** The language of the announcements (the office's); default the block's own. */
  language?: string;
}

interface Wording {
  update: string;
  cancel: string;
  allClear: string;
  web: string;
  /** The whole post for an Update or a Cancel without <info>. */
  updated: string;
  cancelled: string;
}

const FRENCH: Wording = {
  update: 'Mise à jour :',
  cancel: "Fin d'alerte :",
  allClear: "Fin de l'alerte :",
  web: "Plus d'informations :",
  updated: "L'alerte a été mise à jour.",
  cancelled: 'Alerte levée.',
};
const OTHER: Wording = {
  update: 'Update:',
  cancel: 'Cancelled:',
  allClear: 'All clear:',
  web: 'More information:',
  updated: 'This alert has been updated.',
  cancelled: 'This alert has been cancelled.',
};

function wordingOf(language: string): Wording {
  return primaryTag(language) === 'fr' ? FRENCH : OTHER;
}

/**
 * The post for an Update or a Cancel that carries no <info>: a standard sentence in `language`
 * (French, else English), posted under the alert it references.
 */
export function capNoticeText(msgType: 'Update' | 'Cancel', language: string): string {
  const words = wordingOf(language);
  return msgType === 'Cancel' ? words.cancelled : words.updated;
}

/**
 * Invisible characters X refuses in a post (twitter-text's invalid ones): U+FEFF, a byte-order
 * mark or zero-width no-break space that word processors leave in pasted text, and the
 * noncharacters U+FFFE and U+FFFF. Nobody can mend an alert's text before it goes out, and one of
 * them would have X refuse the whole crisis, so they go.
 */
const X_REFUSED = /[\uFEFF\uFFFE\uFFFF]/g;

/**
 * Makes pretty-printed XML text readable as a post: the indentation the XML carried is removed,
 * trailing spaces dropped, runs of blank lines kept as one paragraph break, and the invisible
 * characters X refuses taken out. Words are never changed, dropped or cut.
 */
function tidy(text: string): string {
  const lines = text
    .replace(X_REFUSED, '')
    .split('\n')
    .map((line) => line.trim());
  return lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * The post text: headline, description, instruction and web, in that order, separated by blank
 * lines; none is dropped and nothing is truncated (splitting into a thread is the caller's job).
 * Update and Cancel get a short prefix, and a block whose responseType is AllClear one saying the
 * alert is over, in `options.language` or else the block's (French, else English).
 */
export function capText(info: CapInfoBlock, options: CapTextOptions = {}): string {
  const words = wordingOf(options.language ?? info.language);
  const parts = [info.headline, info.description, info.instruction]
    .filter((part): part is string => part !== undefined)
    .map(tidy)
    .filter((part) => part !== '');
  if (info.web !== undefined) parts.push(`${words.web} ${info.web.replace(X_REFUSED, '')}`);
  // The event is required; it stands in when the sender gave nothing else to say.
  if (parts.length === 0) parts.push(tidy(info.event));
  const prefix = info.responseTypes.includes('AllClear')
    ? words.allClear
    : options.msgType === 'Update'
      ? words.update
      : options.msgType === 'Cancel'
        ? words.cancel
        : undefined;
  if (prefix !== undefined) parts[0] = `${prefix} ${parts[0] ?? ''}`;
  return parts.join('\n\n');
}

/** Stable key of an alert, for idempotency and for matching references: "sender,identifier,sent". */
export function capKey(a: { sender: string; identifier: string; sent: string }): string {
  return `${a.sender},${a.identifier},${a.sent}`;
}

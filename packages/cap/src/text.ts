import { CapError } from './errors.ts';
import type { CapAlert, CapInfoBlock, CapMsgType } from './types.ts';

function primaryTag(language: string): string {
  return language.split('-')[0]?.toLowerCase() ?? '';
}

/**
 * The info block to post: the one whose language matches `locale` (fr-FR matches fr and fr-FR;
 * an exact match wins over a same-language one), else the first. A valid Cancel, Ack or Error
 * may have no block at all: that throws CapError, since there is then nothing to post.
 */
export function pickInfo(alert: CapAlert, locale: string): CapInfoBlock {
  const wanted = locale.toLowerCase();
  const exact = alert.infos.find((info) => info.language.toLowerCase() === wanted);
  const sameLanguage = alert.infos.find((info) => primaryTag(info.language) === primaryTag(wanted));
  const chosen = exact ?? sameLanguage ?? alert.infos[0];
  if (chosen === undefined) {
    throw new CapError([
      { path: 'alert/info', message: `alert ${capKey(alert)} has no <info> block to post` },
    ]);
  }
  return chosen;
}

export interface CapTextOptions {
  /** Update and Cancel are announced as such, so readers do not take them for a new alert. */
  msgType?: CapMsgType;
}

interface Wording {
  update: string;
  cancel: string;
  web: string;
}

const FRENCH: Wording = { update: 'Mise à jour :', cancel: "Fin d'alerte :", web: "Plus d'informations :" };
const OTHER: Wording = { update: 'Update:', cancel: 'Cancelled:', web: 'More information:' };

/**
 * Makes pretty-printed XML text readable as a post: the indentation the XML carried is removed,
 * trailing spaces dropped, and runs of blank lines kept as one paragraph break. Words are never
 * changed, dropped or cut.
 */
function tidy(text: string): string {
  const lines = text.split('\n').map((line) => line.trim());
  return lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * The post text: headline, description, instruction and web, in that order, separated by blank
 * lines; none is dropped and nothing is truncated (splitting into a thread is the caller's job).
 * Update and Cancel get a short prefix in the block's language (French or English).
 */
export function capText(info: CapInfoBlock, options: CapTextOptions = {}): string {
  const words = primaryTag(info.language) === 'fr' ? FRENCH : OTHER;
  const parts = [info.headline, info.description, info.instruction]
    .filter((part): part is string => part !== undefined && part.trim() !== '')
    .map(tidy);
  if (info.web !== undefined) parts.push(`${words.web} ${info.web}`);
  // The event is required; it stands in when the sender gave nothing else to say.
  if (parts.length === 0) parts.push(tidy(info.event));
  const prefix =
    options.msgType === 'Update' ? words.update : options.msgType === 'Cancel' ? words.cancel : undefined;
  if (prefix !== undefined) parts[0] = `${prefix} ${parts[0] ?? ''}`;
  return parts.join('\n\n');
}

/** Stable key of an alert, for idempotency and for matching references: "sender,identifier,sent". */
export function capKey(a: { sender: string; identifier: string; sent: string }): string {
  return `${a.sender},${a.identifier},${a.sent}`;
}

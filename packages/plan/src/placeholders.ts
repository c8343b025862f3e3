/**
 * Placeholders in texts ({sunset.date}, {bluesky.url}…), resolved at compile time from the plan
 * itself. Only `{word.word}` is a placeholder; other braces are kept as written.
 */
import { starterPackUrl } from './audience.ts';
import type { PlanDocument } from './schema.ts';

export const PLACEHOLDERS = [
  'sunset.date',
  'sunset.time',
  'organisation.name',
  'organisation.website',
  'x.handle',
  'x.url',
  'bluesky.handle',
  'bluesky.url',
  'bluesky.starter_pack',
  'mastodon.handle',
  'mastodon.url',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

const PATTERN = /\{([a-z_]+\.[a-z_]+)\}/g;

export interface PlaceholderUse {
  name: string;
  index: number;
}

export function findPlaceholders(text: string): PlaceholderUse[] {
  return [...text.matchAll(PATTERN)].map((m) => ({ name: m[1] ?? '', index: m.index }));
}

export function isPlaceholder(name: string): name is Placeholder {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

/** Values of the placeholders a plan can fill; a missing key means the plan lacks what it needs. */
export function placeholderValues(plan: PlanDocument, sunset: Date): Partial<Record<Placeholder, string>> {
  const { organisation: org, networks } = plan;
  const values: Partial<Record<Placeholder, string>> = {
    'sunset.date': longDate(sunset, org.locale, org.timezone),
    'sunset.time': new Intl.DateTimeFormat(org.locale, {
      hour: '2-digit',
      minute: '2-digit',
      timeZone: org.timezone,
    }).format(sunset),
    'organisation.name': org.name,
  };
  if (org.website) values['organisation.website'] = org.website;
  if (networks.x) {
    const handle = networks.x.account.replace(/^@/, '');
    values['x.handle'] = `@${handle}`;
    values['x.url'] = `https://x.com/${handle}`;
  }
  if (networks.bluesky) {
    const handle = networks.bluesky.handle.replace(/^@/, '');
    values['bluesky.handle'] = `@${handle}`;
    values['bluesky.url'] = `https://bsky.app/profile/${handle}`;
    const pack = starterPackUrl(plan);
    if (pack) values['bluesky.starter_pack'] = pack;
  }
  if (networks.mastodon) {
    const [user, server] = networks.mastodon.account.replace(/^@/, '').split('@');
    values['mastodon.handle'] = `@${user}@${server}`;
    values['mastodon.url'] = `${networks.mastodon.instance.replace(/\/+$/, '')}/@${user}`;
  }
  return values;
}

/** "20 janvier 2027"; French writes the first of the month as an ordinal: "1er mars 2027". */
export function longDate(instant: Date, locale: string, timeZone: string): string {
  const parts = new Intl.DateTimeFormat(locale, {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    timeZone,
  }).formatToParts(instant);
  const french = new Intl.Locale(locale).language === 'fr';
  return parts.map((p) => (french && p.type === 'day' && p.value === '1' ? '1er' : p.value)).join('');
}

/** Replaces every known placeholder; unknown ones are left as written (validation reports them). */
export function expand(text: string, values: Partial<Record<Placeholder, string>>): string {
  return text.replace(PATTERN, (whole, name: string) =>
    isPlaceholder(name) && values[name] !== undefined ? values[name] : whole,
  );
}

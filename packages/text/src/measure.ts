import { NETWORK_LABELS, type Network } from '@sunset/core';
import {
  BLUESKY_BYTE_LIMIT,
  BLUESKY_GRAPHEME_LIMIT,
  X_LIMIT,
  X_URL_LENGTH,
  graphemeCount,
  mastodonCount,
  resolveMastodonLimits,
  utf8Length,
  xUrlCount,
  xWeightedLength,
  type MastodonLimits,
} from './count.ts';

/** Per-instance overrides of the networks' limits (only Mastodon's vary today). */
export interface TextLimits {
  mastodon?: Partial<MastodonLimits>;
}

export interface LengthReport {
  network: Network;
  /** In the network's own unit: X weighted characters, Bluesky graphemes, Mastodon characters. */
  length: number;
  /** 280 for X, 300 for Bluesky, the instance's `maxCharacters` for Mastodon. */
  limit: number;
  /** Human words for the unit: 'characters' for X and Mastodon, 'graphemes' for Bluesky. */
  unit: string;
  /** UTF-8 bytes of the text. */
  bytes: number;
  /** 3000 for Bluesky only. */
  byteLimit?: number;
  /** How many URLs were counted at a fixed length (always 0 for Bluesky). */
  urls: number;
  /** 23 for X, `charactersReservedPerUrl` for Mastodon, undefined for Bluesky. */
  urlLength?: number;
  fits: boolean;
}

/** How long `text` is for `network`, and whether it fits in one post. */
export function measure(text: string, network: Network, limits?: TextLimits): LengthReport {
  const bytes = utf8Length(text);
  switch (network) {
    case 'x': {
      const length = xWeightedLength(text);
      const urls = xUrlCount(text);
      return {
        network,
        length,
        limit: X_LIMIT,
        unit: 'characters',
        bytes,
        urls,
        urlLength: X_URL_LENGTH,
        fits: length <= X_LIMIT,
      };
    }
    case 'bluesky': {
      const length = graphemeCount(text);
      return {
        network,
        length,
        limit: BLUESKY_GRAPHEME_LIMIT,
        unit: 'graphemes',
        bytes,
        byteLimit: BLUESKY_BYTE_LIMIT,
        urls: 0,
        fits: length <= BLUESKY_GRAPHEME_LIMIT && bytes <= BLUESKY_BYTE_LIMIT,
      };
    }
    case 'mastodon': {
      const resolved = resolveMastodonLimits(limits?.mastodon);
      const { length, urls } = mastodonCount(text, resolved);
      return {
        network,
        length,
        limit: resolved.maxCharacters,
        unit: 'characters',
        bytes,
        urls,
        urlLength: resolved.charactersReservedPerUrl,
        fits: length <= resolved.maxCharacters,
      };
    }
  }
}

function quantity(count: number, unit: string): string {
  return `${count} ${count === 1 ? unit.replace(/s$/, '') : unit}`;
}

function linkNote(report: LengthReport): string {
  if (report.urls === 0 || report.urlLength === undefined) return '';
  return report.urls === 1
    ? ` (a link counts as ${report.urlLength})`
    : ` (each link counts as ${report.urlLength})`;
}

/**
 * Plain words for a length, fit for an error message, e.g.
 * "312 characters for X; the limit is 280 (a link counts as 23)" or
 * "3104 bytes for Bluesky; the limit is 3000 bytes".
 */
export function describeLength(report: LengthReport): string {
  const label = NETWORK_LABELS[report.network];
  const overLength = report.length > report.limit;
  const overBytes = report.byteLimit !== undefined && report.bytes > report.byteLimit;
  if (overBytes && overLength) {
    return (
      `${quantity(report.length, report.unit)} and ${quantity(report.bytes, 'bytes')} for ${label}; ` +
      `the limits are ${report.limit} ${report.unit} and ${report.byteLimit} bytes`
    );
  }
  if (overBytes) {
    return `${quantity(report.bytes, 'bytes')} for ${label}; the limit is ${report.byteLimit} bytes`;
  }
  return `${quantity(report.length, report.unit)} for ${label}; the limit is ${report.limit}${linkNote(report)}`;
}

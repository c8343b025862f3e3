/** How a plan's CAP feeds are read: their polling interval, as the worker uses it. */

/** A feed without `interval` is read every five minutes. */
export const DEFAULT_FEED_INTERVAL_MS = 5 * 60_000;
/** Below this a feed is read more often than publishers usually allow: validation warns. */
export const SHORT_FEED_INTERVAL_MS = 60_000;

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** "90s", "2m", "1h" → milliseconds; undefined for anything else (the schema's pattern refuses it). */
export function feedIntervalMs(interval: string | undefined): number | undefined {
  if (interval === undefined) return DEFAULT_FEED_INTERVAL_MS;
  const match = /^([0-9]{1,6})(s|m|h)$/.exec(interval);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

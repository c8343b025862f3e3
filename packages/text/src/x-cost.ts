/**
 * What X charges for each request, in one table, and the one function that says what a request
 * will cost. X's API is pay-per-use since 2026 and its prices change: the defaults are the ones X
 * published (developer docs, "pricing" and "usage and billing", 2026), the operator overrides them
 * (SUNSET_X_PRICES), and X's developer console stays the reference. Amounts are kept in
 * micro-dollars so that sums never drift.
 */
import { xUrlCount } from './count.ts';

export type XPriced =
  'create' | 'create_with_url' | 'delete' | 'read_post' | 'read_user' | 'media_upload' | 'profile_update';

/** Micro-dollars per request (writes) or per resource returned (reads). */
export type XPriceTable = Readonly<Record<XPriced, number>>;

const MICRO = 1_000_000;

/**
 * X's published 2026 prices. Media upload and the v1.1 profile calls are not priced separately
 * in what X publishes: 0 until the operator says otherwise.
 */
export const DEFAULT_X_PRICES: XPriceTable = Object.freeze({
  create: 15_000,
  create_with_url: 200_000,
  delete: 10_000,
  read_post: 5_000,
  read_user: 10_000,
  media_upload: 0,
  profile_update: 0,
});

export const X_PRICE_NAMES = Object.keys(DEFAULT_X_PRICES) as XPriced[];

/** A request as X prices it. */
export type XRequest =
  | { kind: 'create'; text: string }
  | { kind: 'delete' }
  | { kind: 'read_post'; count: number }
  | { kind: 'read_user'; count?: number }
  | { kind: 'media_upload' }
  | { kind: 'profile_update' };

/** Whether X counts the text as carrying a URL (as twitter-text finds them, bare domains included). */
export function xHasUrl(text: string): boolean {
  return xUrlCount(text) > 0;
}

/** What one request costs, in micro-dollars, by `prices` (default X's published ones). */
export function costOf(request: XRequest, prices: XPriceTable = DEFAULT_X_PRICES): number {
  switch (request.kind) {
    case 'create':
      return xHasUrl(request.text) ? prices.create_with_url : prices.create;
    case 'read_post':
      return prices.read_post * Math.max(0, request.count);
    case 'read_user':
      return prices.read_user * Math.max(0, request.count ?? 1);
    default:
      return prices[request.kind];
  }
}

/** Micro-dollars as dollars for people, to the tenth of a cent: "$0.015", "$0.20", "$12.50". */
export function formatUsd(micros: number): string {
  const text = (micros / MICRO).toFixed(3);
  return `$${text.endsWith('0') ? text.slice(0, -1) : text}`;
}

/** Dollars (as plans and the operator write them) in micro-dollars. */
export function usdToMicros(dollars: number): number {
  return Math.round(dollars * MICRO);
}

/**
 * The operator's prices over the defaults: "create=0.015,create_with_url=0.2" (dollars). Throws
 * with the entry at fault; nothing is half applied.
 */
export function parseXPrices(spec: string | undefined): XPriceTable {
  const table: Record<XPriced, number> = { ...DEFAULT_X_PRICES };
  if (spec === undefined || spec.trim() === '') return Object.freeze(table);
  for (const entry of spec.split(',')) {
    const [name = '', value = ''] = entry.split('=').map((s) => s.trim());
    if (!(X_PRICE_NAMES as string[]).includes(name)) {
      throw new Error(`"${name}" is not an X price; known: ${X_PRICE_NAMES.join(', ')}`);
    }
    const dollars = Number(value);
    if (value === '' || !Number.isFinite(dollars) || dollars < 0) {
      throw new Error(`the price of ${name} must be a number of dollars ≥ 0, not "${value}"`);
    }
    table[name as XPriced] = usdToMicros(dollars);
  }
  return Object.freeze(table);
}

/**
 * The warning for a post whose only reason to cost the URL price is its link, or undefined when
 * it has none.
 */
export function xLinkCostWarning(text: string, prices: XPriceTable = DEFAULT_X_PRICES): string | undefined {
  if (!xHasUrl(text) || prices.create_with_url <= prices.create) return undefined;
  return (
    `costs ${formatUsd(prices.create_with_url)} on X because it contains a link; ` +
    `the same post with the handle or the site's name written without a link costs ${formatUsd(prices.create)}`
  );
}

/**
 * The sunset policy, enforced where posts are sent, and judged at the moment a post leaves (the
 * worker asks just before each X part, with the store's clock), not at its due time: a post
 * dated in the past, or one held by a 429 or an outage, is judged when it actually goes. Until
 * the sunset every post goes everywhere it is aimed. After it, X takes crisis posts only with
 * `x_after: crisis-only`, nothing with `frozen`, and with `leave` only the plan's own last posts
 * (the final message before the account is closed by hand); Bluesky and Mastodon go on. The
 * plan's farewell, due at the sunset itself, is the one post that may leave after it, within
 * FAREWELL_GRACE_MS.
 */
import type { Delivery } from '@sunset/store';
import type { OrgSettings } from './org-settings.ts';

/**
 * How long after the sunset the plan's farewell (a plan post due at the sunset itself) may still
 * leave for X: one rate-limit window of X (15 minutes), so that a 429 met at the sunset does not
 * cost the farewell; no other post gets any grace.
 */
export const FAREWELL_GRACE_MS = 15 * 60_000;

/**
 * Why the delivery must not be sent at `now`, or undefined when it may. `now` is the instant it
 * leaves (the store's clock); a post due later than that is judged at its due time.
 */
export function policyRefusal(
  delivery: Pick<Delivery, 'network' | 'source' | 'dueAt' | 'kind'>,
  settings: Pick<OrgSettings, 'sunset' | 'xAfter'>,
  now: Date,
): string | undefined {
  if (delivery.network !== 'x' || delivery.kind !== 'post') return undefined;
  const sunset = settings.sunset.getTime();
  const due = delivery.dueAt.getTime();
  const at = Math.max(now.getTime(), due);
  if (at <= sunset) return undefined;
  if (delivery.source === 'plan' && due === sunset && at <= sunset + FAREWELL_GRACE_MS) return undefined;
  const after = `after the sunset (${settings.sunset.toISOString()})`;
  switch (settings.xAfter) {
    case 'crisis-only':
      return delivery.source === 'crisis'
        ? undefined
        : `X takes crisis posts only ${after} (x_after: crisis-only); this ${delivery.source} post is not sent to X`;
    case 'frozen':
      return `X is frozen ${after} (x_after: frozen): nothing is posted there, not even a crisis`;
    case 'leave':
      // The plan's own last posts (the final message before closing) still go; nothing else does.
      return delivery.source === 'plan'
        ? undefined
        : `the X account is being closed ${after} (x_after: leave): only the plan's last posts go there, not this ${delivery.source} post`;
  }
}

/**
 * The sunset policy, enforced where posts are sent. Posts due at or before the sunset go
 * everywhere they are aimed (the farewell itself is at the sunset). After it, X takes crisis
 * posts only with `x_after: crisis-only`, nothing with `frozen`, and with `leave` only the
 * plan's own last posts (the final message before the account is closed by hand); Bluesky and
 * Mastodon go on.
 */
import type { Delivery } from '@sunset/store';
import type { OrgSettings } from './org-settings.ts';

/** Why the delivery must not be sent, or undefined when it may. */
export function policyRefusal(
  delivery: Pick<Delivery, 'network' | 'source' | 'dueAt' | 'kind'>,
  settings: Pick<OrgSettings, 'sunset' | 'xAfter'>,
): string | undefined {
  if (delivery.network !== 'x' || delivery.kind !== 'post') return undefined;
  if (delivery.dueAt.getTime() <= settings.sunset.getTime()) return undefined;
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

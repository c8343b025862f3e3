/**
 * The CAP feeds of a plan as the store keeps them: each feed's id (derived from its address, so
 * that a plan re-applied with the same feed finds its state) and the list of what each feed
 * brought, for the API and the dashboard. The worker side reads the feeds (worker/feeds.ts).
 */
import { createHash } from 'node:crypto';
import type { CapFeedAlert, CapFeedState, Store } from '@sunset/store';
import type { OrgSettingsCache } from './org-settings.ts';

/** The id a feed's state and alerts are kept under: the same address is the same feed. */
export function feedIdOf(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}

export interface FeedListing {
  url: string;
  feedId: string;
  mode: 'approve' | 'post';
  state?: CapFeedState;
  alerts: CapFeedAlert[];
}

/** Each feed of the organisation's applied plan, its state and the alerts seen in it, newest first. */
export async function feedListing(
  store: Store,
  settings: OrgSettingsCache,
  organisationId: string,
  limit = 100,
): Promise<FeedListing[]> {
  const feeds = (await settings.get(organisationId)).document.crisis?.feeds ?? [];
  const states = new Map((await store.feeds.list(organisationId)).map((s) => [s.feedId, s]));
  return Promise.all(
    feeds.map(async (feed) => {
      const feedId = feedIdOf(feed.url);
      const state = states.get(feedId);
      return {
        url: feed.url,
        feedId,
        mode: feed.mode ?? 'approve',
        ...(state ? { state } : {}),
        alerts: await store.feeds.alerts(organisationId, { feedId, limit }),
      };
    }),
  );
}

/** A post as the read routes show it: its state and where it stands on every network. */
import { NETWORK_LABELS, NotFoundError, type Network } from '@sunset/core';
import type { DeliveryStatus, Post, Store } from '@sunset/store';
import { storedContentOf, type SubmitState } from './post-types.ts';
import { CREDITS_EXHAUSTED_REASON } from './x-economy.ts';

export interface PostState {
  post: Post;
  /** cancelled: withdrawn before it went out (DELETE /v1/posts/:id). */
  state: SubmitState | 'cancelled';
  networks: Partial<
    Record<
      Network,
      {
        status: DeliveryStatus;
        url?: string;
        urls: string[];
        attempts: number;
        lastError?: string;
        parts: number;
        published: number;
        /**
         * Set while the store does not know whether the part on its way landed (a request under
         * way, or an X part marked "outcome unknown" waiting to be reconciled).
         */
        outcomeUnknown?: true;
        /** What a person reads then: "sending, outcome being checked". */
        note?: string;
      }
    >
  >;
}

/** The note of a network whose last request has not been answered yet (postState). */
export const OUTCOME_BEING_CHECKED = 'sending, outcome being checked';

/** A post with its state on every network: for GET /v1/posts/:id and /v1/crisis/:id. */
export async function postState(
  store: Store,
  organisationId: string,
  postId: string,
): Promise<PostState | undefined> {
  const post = await store.posts.get(organisationId, postId);
  if (!post) return undefined;
  const content = storedContentOf(post);
  const deliveries = await store.deliveries.list({ organisationId, postId });
  const networks: PostState['networks'] = {};
  for (const d of deliveries) {
    // The store has not heard back yet: the part may be on the network already.
    const checking =
      d.status === 'sending' ||
      (d.status === 'queued' && d.parts.some((p) => p.outcomeUnknown && p.remoteId === undefined));
    networks[d.network] = {
      status: d.status,
      ...(d.url ? { url: d.url } : {}),
      urls: d.parts.flatMap((p) => (p.url ? [p.url] : [])),
      attempts: d.attempts,
      ...(d.lastError ? { lastError: d.lastError } : {}),
      parts: d.parts.length,
      published: d.parts.filter((p) => p.remoteId !== undefined).length,
      ...(checking ? { outcomeUnknown: true as const, note: OUTCOME_BEING_CHECKED } : {}),
    };
  }
  const x = networks.x;
  if (x?.status === 'needs-attention' && x.lastError?.startsWith(CREDITS_EXHAUSTED_REASON)) {
    // Said at once, where a person looks first: X refused, and who carried the post instead.
    const carried = (Object.keys(networks) as Network[]).filter(
      (n) => n !== 'x' && networks[n]?.status === 'published',
    );
    x.note =
      `X: credits exhausted — X refused this post for lack of credits` +
      (carried.length > 0 ? `; carried by ${carried.map((n) => NETWORK_LABELS[n]).join(' and ')}` : '');
  }
  return {
    post,
    state: content.cancelled
      ? 'cancelled'
      : content.recordOnly
        ? 'recorded'
        : content.awaitingApproval
          ? 'awaiting-approval'
          : 'accepted',
    networks,
  };
}

/** A post of this source with its state (postState), or a NotFoundError: for the read routes. */
export async function findPostState(
  store: Store,
  organisationId: string,
  postId: string,
  source: Post['source'],
): Promise<PostState> {
  const state = await postState(store, organisationId, postId);
  if (!state || state.post.source !== source)
    throw new NotFoundError(`there is no ${source === 'crisis' ? 'crisis ' : ''}post ${postId}`);
  return state;
}

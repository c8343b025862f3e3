/**
 * The queue as a person reads it: what is still to go out (plan steps, ordinary and crisis posts),
 * what waits for a second person, and what failed or needs attention, one item per post with its
 * state on each network and what may be done with it (edit, cancel, retry).
 */
import type { Network } from '@sunset/core';
import type { Delivery, DeliveryKind, DeliveryStatus, PostSource, Store } from '@sunset/store';
import { started } from './apply.ts';
import { storedContentOf, type StoredContent } from './post-types.ts';
import { CREDITS_EXHAUSTED_REASON } from './x-economy.ts';

/** The statuses the queue shows: still to go, or waiting for a person. */
const OPEN: DeliveryStatus[] = ['queued', 'sending', 'failed', 'needs-attention'];

export interface QueueNetwork {
  deliveryId: string;
  status: DeliveryStatus;
  dueAt: Date;
  parts: number;
  published: number;
  attempts: number;
  lastError?: string;
  checklist?: string[];
  /** Set when a retry makes sense (failed or needs attention, not held for X credits); else why not. */
  retry: { allowed: true } | { allowed: false; reason: string };
}

export interface QueueItem {
  /** `post:<id>` for posts, the action key (profile.x, policy.x…) for plan steps. */
  key: string;
  kind: DeliveryKind;
  source: PostSource;
  postId?: string;
  at: Date;
  state: 'accepted' | 'awaiting-approval';
  /** What it says: the post's text, or the plan's first part. */
  text: string;
  variants?: Partial<Record<Network, string>>;
  language?: string;
  images: { sha256: string; mediaType: string; alt: string }[];
  sentBy?: string;
  /** The networks it goes to (a post awaiting approval has no delivery yet). */
  targets: Network[];
  /** Ordinary posts not yet begun anywhere: PATCH and DELETE /v1/posts/:id take them. */
  editable: boolean;
  networks: Partial<Record<Network, QueueNetwork>>;
}

function retryOf(d: Delivery, held: Set<string>, cancelledPost: boolean): QueueNetwork['retry'] {
  if (d.status !== 'failed' && d.status !== 'needs-attention')
    return { allowed: false, reason: `it is ${d.status}` };
  if (held.has(d.id) || d.lastError?.startsWith(CREDITS_EXHAUSTED_REASON))
    return { allowed: false, reason: 'held while X is paused for lack of credits: resume X' };
  if (cancelledPost) return { allowed: false, reason: 'its post was cancelled' };
  return { allowed: true };
}

/** Items due in [from, to] (either open), soonest first; at most `limit`. */
export async function queueListing(
  store: Store,
  organisationId: string,
  range: { from?: Date; to?: Date; limit?: number } = {},
): Promise<QueueItem[]> {
  const inRange = (t: Date) =>
    (!range.from || t.getTime() >= range.from.getTime()) && (!range.to || t.getTime() <= range.to.getTime());
  const open = (await store.deliveries.list({ organisationId, status: OPEN })).filter((d) =>
    inRange(d.dueAt),
  );
  const held = new Set((await store.xSpend.holds(organisationId)).map((h) => h.deliveryId));
  const groups = new Map<string, Delivery[]>();
  for (const d of open) {
    const key = d.kind === 'post' && d.postId ? `post:${d.postId}` : d.actionKey;
    groups.set(key, [...(groups.get(key) ?? []), d]);
  }
  const contents = new Map<string, StoredContent>();
  const contentOf = async (postId: string) => {
    if (!contents.has(postId)) {
      const post = await store.posts.get(organisationId, postId);
      if (post && post.source !== 'plan') contents.set(postId, storedContentOf(post));
    }
    return contents.get(postId);
  };
  const items: QueueItem[] = [];
  for (const [key, ds] of groups) {
    const first = ds[0]!;
    const content = first.postId && first.source !== 'plan' ? await contentOf(first.postId) : undefined;
    // Every delivery of the post, the finished ones too: one published network makes it uneditable.
    const all = first.postId
      ? await store.deliveries.listHeads({ organisationId, postId: first.postId })
      : [];
    const networks: QueueItem['networks'] = {};
    for (const d of ds) {
      networks[d.network] = {
        deliveryId: d.id,
        status: d.status,
        dueAt: d.dueAt,
        parts: d.parts.length,
        published: d.parts.filter((p) => p.remoteId !== undefined).length,
        attempts: d.attempts,
        ...(d.lastError ? { lastError: d.lastError } : {}),
        ...(d.checklist ? { checklist: d.checklist } : {}),
        retry: retryOf(d, held, content?.cancelled !== undefined),
      };
    }
    items.push({
      key,
      kind: first.kind,
      source: first.source,
      ...(first.postId ? { postId: first.postId } : {}),
      at: new Date(Math.min(...ds.map((d) => d.dueAt.getTime()))),
      state: 'accepted',
      text: content?.text ?? first.parts.map((p) => p.text).join('\n\n'),
      ...(content?.variants ? { variants: content.variants } : {}),
      ...(content?.language ? { language: content.language } : {}),
      images: content?.images ?? first.parts[0]?.images ?? [],
      ...(content?.sentBy ? { sentBy: content.sentBy.person } : {}),
      targets: content?.networks ?? ds.map((d) => d.network),
      editable:
        first.source === 'ordinary' &&
        !content?.cancelled &&
        all.every(
          (d) => d.status === 'cancelled' || (['queued', 'failed'].includes(d.status) && !started(d)),
        ),
      networks,
    });
  }
  // Posts waiting for a second person have no deliveries yet: they come from the posts themselves.
  for (const post of await store.posts.list(organisationId, { source: 'ordinary', limit: 200 })) {
    const content = storedContentOf(post);
    if (!content.awaitingApproval || content.cancelled || !inRange(new Date(content.at))) continue;
    items.push({
      key: `post:${post.id}`,
      kind: 'post',
      source: 'ordinary',
      postId: post.id,
      at: new Date(content.at),
      state: 'awaiting-approval',
      text: content.text,
      ...(content.variants ? { variants: content.variants } : {}),
      language: content.language,
      images: content.images,
      ...(content.sentBy ? { sentBy: content.sentBy.person } : {}),
      targets: content.networks,
      editable: true,
      networks: {},
    });
  }
  items.sort((a, b) => a.at.getTime() - b.at.getTime() || a.key.localeCompare(b.key));
  return items.slice(0, range.limit ?? 500);
}

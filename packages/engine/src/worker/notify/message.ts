/**
 * The message of an event, built from the store when it is sent (the job carries ids only): the
 * post's text, each network's state and link, a failure's reason and checklist, the approval link.
 */
import { NETWORK_LABELS } from '@sunset/core';
import type { NotifyJobData } from '@sunset/queue';
import type { Delivery, Store } from '@sunset/store';
import { storedContentOf, type StoredContent } from '../../outbox/post-types.ts';
import { xPauseOf } from '../../outbox/x-economy.ts';
import type { NotificationMessage } from './provider.ts';

/** The dashboard screen that shows a post of this source, from the dashboard's address. */
function screenLink(base: string | undefined, source: string, postId: string): string | undefined {
  if (!base) return undefined;
  return source === 'crisis' ? `${base}#/crise/${encodeURIComponent(postId)}` : undefined;
}

function apiLink(base: string | undefined, path: string): string | undefined {
  return base ? `${base}${path}` : undefined;
}

function networksOf(deliveries: readonly Delivery[]): NotificationMessage['networks'] {
  return deliveries.map((d) => ({
    network: d.network,
    status: d.status,
    ...((d.url ?? d.parts[0]?.url) ? { url: (d.url ?? d.parts[0]?.url)! } : {}),
    ...(d.status !== 'published' && d.lastError ? { error: d.lastError } : {}),
  }));
}

function quote(content: StoredContent): string {
  return content.text.length > 600 ? `${content.text.slice(0, 599)}…` : content.text;
}

export class EventGoneError extends Error {}

export async function buildMessage(
  store: Store,
  data: NotifyJobData,
  dashboardUrl: string | undefined,
): Promise<NotificationMessage> {
  const org = (await store.organisations.get(data.organisationId))?.name ?? data.organisationId;
  const base = { event: data.event, organisationId: data.organisationId };
  const post = data.postId ? await store.posts.get(data.organisationId, data.postId) : undefined;
  if (data.postId && !post) throw new EventGoneError(`post ${data.postId} is not in the store`);
  const content = post ? storedContentOf(post) : undefined;
  const sender = content?.sentBy?.person ?? post?.createdBy;
  switch (data.event) {
    case 'crisis.awaiting-approval':
    case 'feed.alert-drafted':
    case 'post.awaiting-approval': {
      const crisis = data.event !== 'post.awaiting-approval';
      const approve = crisis
        ? screenLink(dashboardUrl, 'crisis', post!.id)
        : apiLink(dashboardUrl, `v1/posts/${encodeURIComponent(post!.id)}`);
      const approveApi = apiLink(
        dashboardUrl,
        `v1/${crisis ? 'crisis' : 'posts'}/${encodeURIComponent(post!.id)}/approve`,
      );
      const what =
        data.event === 'feed.alert-drafted'
          ? 'A CAP feed alert was drafted as a crisis post'
          : crisis
            ? `A crisis post from ${sender}`
            : `A post from ${sender}`;
      const title = `[${org}] ${what} waits for approval`;
      return {
        ...base,
        title,
        text: [
          `${title}:`,
          '',
          quote(content!),
          '',
          `Networks: ${content!.networks.map((n) => NETWORK_LABELS[n]).join(', ')}`,
          approve
            ? `Open it to approve: ${approve}`
            : `Approve it with POST /v1/${crisis ? 'crisis' : 'posts'}/${post!.id}/approve`,
          'A person other than its sender must approve it.',
        ].join('\n'),
        postId: post!.id,
        post: content!.text,
        links: { ...(approve ? { approve } : {}), ...(approveApi ? { approveApi } : {}) },
      };
    }
    case 'crisis.published': {
      const deliveries = await store.deliveries.list({
        organisationId: data.organisationId,
        postId: post!.id,
      });
      const networks = networksOf(deliveries) ?? [];
      const title = `[${org}] Crisis post published`;
      return {
        ...base,
        title,
        text: [
          `${title}:`,
          '',
          quote(content!),
          '',
          ...networks.map(
            (n) =>
              `${NETWORK_LABELS[n.network]}: ${n.status === 'published' ? (n.url ?? 'published') : `${n.status}${n.error ? ` (${n.error})` : ''}`}`,
          ),
        ].join('\n'),
        postId: post!.id,
        post: content!.text,
        links: {
          ...(screenLink(dashboardUrl, 'crisis', post!.id)
            ? { post: screenLink(dashboardUrl, 'crisis', post!.id)! }
            : {}),
        },
        networks,
      };
    }
    case 'delivery.failed':
    case 'delivery.needs-attention': {
      const delivery = data.deliveryId ? await store.deliveries.get(data.deliveryId) : undefined;
      if (!delivery || delivery.organisationId !== data.organisationId)
        throw new EventGoneError(`delivery ${data.deliveryId ?? ''} is not in the store`);
      const failed = data.event === 'delivery.failed';
      const network = NETWORK_LABELS[delivery.network];
      const title = `[${org}] ${network}: ${failed ? 'a delivery failed' : 'a delivery needs attention'}`;
      const reason = delivery.lastError ?? (failed ? 'failed' : 'needs attention');
      const postText = delivery.parts[0]?.text;
      return {
        ...base,
        title,
        text: [
          `${title} (${delivery.source} ${delivery.kind}${delivery.postId ? ` ${delivery.postId}` : ''}).`,
          `Reason: ${reason}`,
          ...(delivery.checklist?.length
            ? ['', 'What to do:', ...delivery.checklist.map((c) => `- ${c}`)]
            : []),
          ...(postText ? ['', quote({ text: postText } as StoredContent)] : []),
        ].join('\n'),
        deliveryId: delivery.id,
        ...(delivery.postId ? { postId: delivery.postId } : {}),
        ...(postText ? { post: postText } : {}),
        links: {},
        networks: networksOf([delivery]),
        reason,
        ...(delivery.checklist?.length ? { checklist: delivery.checklist } : {}),
      };
    }
    case 'identity.check-failed': {
      const [run] = await store.watch.identityChecks(data.organisationId, 1);
      if (!run) throw new EventGoneError('no identity check run is in the store');
      const failed = run.results.filter((r) => r['status'] === 'failed');
      const reason = failed.map((r) => `${String(r['subject'])}: ${String(r['message'])}`).join('\n');
      const checklist = [
        'Read each failed check: the account or the domain may be in other hands.',
        'For a changed X profile: change the X password, end unknown sessions, then set the dormant profile again.',
        `Run "sunset identity check <plan>" once it is fixed; the worker checks again daily.`,
      ];
      const title = `[${org}] Identity check failed: ${failed.length} of ${run.results.length}`;
      return {
        ...base,
        title,
        text: [
          `${title} (${run.at.toISOString()}).`,
          '',
          ...failed.map((r) => `- ${String(r['check'])} ${String(r['subject'])}: ${String(r['message'])}`),
          '',
          'What to do:',
          ...checklist.map((c) => `- ${c}`),
        ].join('\n'),
        links: {},
        reason,
        checklist,
      };
    }
    case 'x.paused': {
      const pause = await xPauseOf(store, data.organisationId);
      const reason = pause?.reason ?? 'X is paused';
      const checklist = [
        "Buy X credits in X's developer console.",
        `Then run "sunset networks resume x ${data.organisationId}" (or POST /v1/networks/x/resume): held X posts go again.`,
        'Crisis posts still go to X while credits last.',
      ];
      const title = `[${org}] X paused: ordinary X posts are held`;
      return {
        ...base,
        title,
        text: [`${title}.`, `Reason: ${reason}`, '', 'What to do:', ...checklist.map((c) => `- ${c}`)].join(
          '\n',
        ),
        links: {},
        reason,
        checklist,
      };
    }
  }
}

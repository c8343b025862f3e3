/**
 * The one text builder: which networks a post goes to and what each of them gets, for the
 * delivery builder (submitPost, approveCrisis) and for the previews alike, so that a preview
 * never shows a post the worker will not send. It chooses the networks (the request, else the
 * plan's mirror or crisis networks), narrows a follow-up to where its original went, asks the
 * sunset policy about X, keeps record-only CAP messages off the accounts, then composes each
 * network's text and splits it into thread parts.
 */
import { InputError, NETWORKS, NETWORK_LABELS, type Network } from '@sunset/core';
import { textLimitsOf } from '@sunset/plan';
import type { DeliveryStatus, Post, Store } from '@sunset/store';
import {
  costOf,
  describeRefused,
  measure,
  splitThread,
  xLinkCostWarning,
  type XPriceTable,
} from '@sunset/text';
import type { OrgSettings, OrgSettingsCache } from './org-settings.ts';
import { policyRefusal } from './policy.ts';
import { storedContentOf, type CapInfo, type StoredContent, type SubmitPostInput } from './post-types.ts';

/** Images each network takes (NETWORKS.md): count, bytes, alt text. */
const IMAGE_RULES: Record<Network, { bytes: number; alt: number }> = {
  x: { bytes: 5_000_000, alt: 1000 },
  bluesky: { bytes: 2_000_000, alt: 2000 },
  mastodon: { bytes: 16_000_000, alt: 1500 },
};
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
const URL_IN_TEXT = /\bhttps?:\/\/\S+/i;
const RECORD_ONLY: readonly CapInfo['status'][] = ['Test', 'Exercise', 'Draft', 'System'];

/** The networks configured in the plan. */
function configured(settings: OrgSettings): Network[] {
  return NETWORKS.filter((n) => settings.document.networks[n] !== undefined);
}

/** Where a post goes by default: the plan's mirror (ordinary) or crisis networks. */
function defaultNetworks(settings: OrgSettings, source: SubmitPostInput['source'], at: Date): Network[] {
  const doc = settings.document;
  const all = configured(settings);
  if (source === 'crisis') return (doc.crisis?.on ?? all).filter((n) => all.includes(n));
  const afterSunset = at.getTime() > settings.sunset.getTime();
  const mirror = afterSunset ? doc.mirror?.after_sunset : doc.mirror?.before_sunset;
  return (mirror ?? all.filter((n) => !afterSunset || n !== 'x')).filter((n) => all.includes(n));
}

/** Checks everything about the request before anything is written; every problem at once. */
export function checkRequest(input: Omit<SubmitPostInput, 'actor'>, settings: OrgSettings): Network[] {
  const problems: string[] = [];
  const all = configured(settings);
  if (input.text.trim() === '' && !Object.values(input.variants ?? {}).some((v) => v?.trim())) {
    problems.push('text: empty; write the message to post');
  }
  for (const n of Object.keys(input.variants ?? {})) {
    if (!(NETWORKS as readonly string[]).includes(n))
      problems.push(`variants.${n}: not a network (${NETWORKS.join(', ')})`);
  }
  for (const n of input.networks ?? []) {
    if (!all.includes(n))
      problems.push(
        `networks: ${NETWORK_LABELS[n]} is not configured in the plan of ${input.organisationId}`,
      );
  }
  const images = input.images ?? [];
  if (images.length > 4) problems.push(`images: ${images.length} images; at most 4`);
  images.forEach((im, i) => {
    if (!im.alt || im.alt.trim() === '')
      problems.push(`images[${i}].alt: missing; every image needs alternative text`);
    if (!IMAGE_TYPES.includes(im.mediaType)) {
      problems.push(`images[${i}]: type ${im.mediaType} is not one of ${IMAGE_TYPES.join(', ')}`);
    }
  });
  if (input.link !== undefined && !/^https?:\/\/\S+$/.test(input.link))
    problems.push('link: not an http(s) URL');
  const targets = input.networks ?? defaultNetworks(settings, input.source, input.at ?? new Date());
  // Caught here rather than by X, which would refuse the whole post when it is its turn.
  if (targets.includes('x')) {
    const variant = input.variants?.x;
    const refused = describeRefused(variant ?? input.text);
    if (refused !== undefined) problems.push(`${variant === undefined ? 'text' : 'variants.x'}: ${refused}`);
  }
  for (const n of targets) {
    images.forEach((im, i) => {
      if (im.data.byteLength > IMAGE_RULES[n].bytes) {
        problems.push(
          `images[${i}]: ${im.data.byteLength} bytes; ${NETWORK_LABELS[n]} takes at most ${IMAGE_RULES[n].bytes}`,
        );
      }
      if (im.alt.length > IMAGE_RULES[n].alt) {
        problems.push(
          `images[${i}].alt: ${im.alt.length} characters; ${NETWORK_LABELS[n]} takes at most ${IMAGE_RULES[n].alt}`,
        );
      }
    });
  }
  if (problems.length > 0) throw new InputError(problems.join('; '));
  return targets;
}

/** The text one network gets: crisis posts carry the plan's label, the official link and hashtags. */
export function composeText(
  settings: OrgSettings,
  content: Pick<StoredContent, 'text' | 'variants' | 'link'>,
  source: SubmitPostInput['source'],
  network: Network,
): string {
  let text = (content.variants?.[network] ?? content.text).trim();
  if (source !== 'crisis') return text;
  const crisis = settings.document.crisis;
  if (crisis?.label && !text.startsWith(crisis.label)) text = `${crisis.label} ${text}`;
  const link = content.link ?? crisis?.link;
  if (link && !URL_IN_TEXT.test(text)) text = `${text}\n${link}`;
  const tags = (crisis?.hashtags ?? []).filter((t) => !text.toLowerCase().includes(t.toLowerCase()));
  if (tags.length > 0) text = `${text} ${tags.join(' ')}`;
  return text;
}

/** How far a follow-up looks along posts that replaced each other before going out. */
const MAX_SUPERSEDED_HOPS = 20;

/**
 * The post a follow-up of `postId` answers: that post, or the one that replaced it before it went
 * out (and so on along replacements); undefined when there is no such post.
 */
export async function answeredPost(
  store: Store,
  organisationId: string,
  postId: string,
): Promise<{ post: Post; content: StoredContent; awaitingApproval: boolean } | undefined> {
  let post = await store.posts.get(organisationId, postId);
  if (!post) return undefined;
  let content = storedContentOf(post);
  for (let hop = 0; content.cancelled?.supersededBy !== undefined && hop < MAX_SUPERSEDED_HOPS; hop++) {
    const next = await store.posts.get(organisationId, content.cancelled.supersededBy);
    if (!next) break;
    post = next;
    content = storedContentOf(next);
  }
  return { post, content, awaitingApproval: content.awaitingApproval === true && !content.cancelled };
}

/** Where a follow-up goes, decided by what became of its original. */
interface FollowUp {
  /** The post it answers: the one named, or the one that replaced it before going out. */
  replyTo: string;
  targets: Network[];
  /** The original, still awaiting approval, that this follow-up withdraws (nothing of it went out). */
  supersedes?: string;
  /** Why the follow-up is recorded and not posted. */
  recordReason?: string;
  notes: string[];
}

/**
 * A follow-up goes where its original went out (or is going out). An original that still awaits
 * approval went out nowhere: an Update takes its place on the original's networks (not as a reply),
 * a Cancel withdraws it and posts nothing, and an Update without words of its own (noticeOnly)
 * leaves it waiting. An original replaced that way stands for the post that replaced it.
 */
async function followUpOf(
  store: Store,
  input: Pick<SubmitPostInput, 'organisationId' | 'cap' | 'noticeOnly'>,
  originalId: string,
  wanted: readonly Network[],
): Promise<FollowUp> {
  const { organisationId } = input;
  const answered = await answeredPost(store, organisationId, originalId);
  // The id is not repeated: an error never echoes what the request sent.
  if (!answered) throw new InputError(`replyTo: no post of ${organisationId} has this id`);
  const { content } = answered;
  const replyTo = answered.post.id;
  if (answered.awaitingApproval) {
    const what = input.cap ? `CAP ${input.cap.msgType}` : 'follow-up';
    if (input.cap?.msgType === 'Cancel') {
      return {
        replyTo,
        targets: [],
        supersedes: replyTo,
        recordReason: `its original ${replyTo} has not gone out (it awaits approval): this Cancel withdraws it, and nothing is posted`,
        notes: [],
      };
    }
    if (input.noticeOnly) {
      return {
        replyTo,
        targets: [],
        recordReason: `its original ${replyTo} has not gone out and still awaits approval; this ${what} has no text of its own: recorded, not posted`,
        notes: [],
      };
    }
    const targets = wanted.filter((n) => content.networks.includes(n));
    return { replyTo, targets, supersedes: replyTo, notes: leftOut(wanted, targets) };
  }
  const live: DeliveryStatus[] = ['queued', 'sending', 'published'];
  const deliveries = await store.deliveries.list({ organisationId, postId: replyTo });
  const targets = wanted.filter((n) => deliveries.some((d) => d.network === n && live.includes(d.status)));
  return { replyTo, targets, notes: leftOut(wanted, targets) };
}

function leftOut(wanted: readonly Network[], targets: readonly Network[]): string[] {
  return wanted
    .filter((n) => !targets.includes(n))
    .map(
      (n) => `${NETWORK_LABELS[n]}: the original post did not go out there, so its follow-up does not either`,
    );
}

/**
 * How far in the past `at` may be and still mean "now": a client's clock a little off, or a
 * request retried a few minutes on. Further back it is refused rather than sent now, since the
 * sender meant another moment (and, after the sunset, another set of networks).
 */
export const PAST_AT_TOLERANCE_MS = 5 * 60_000;

/**
 * The due time of a new post: `at` when it is ahead, now when it is behind (said in `notes`).
 * Refuses one more than PAST_AT_TOLERANCE_MS back (`refuse`; a key sent again skips that).
 */
export function dueTimeOf(at: Date | undefined, now: Date, notes: string[], refuse: boolean): Date {
  if (at === undefined || at.getTime() >= now.getTime()) return at ?? now;
  const behind = now.getTime() - at.getTime();
  if (refuse && behind > PAST_AT_TOLERANCE_MS) {
    throw new InputError(
      `at: ${at.toISOString()} is ${Math.round(behind / 60_000)} minutes in the past (now ${now.toISOString()}); ` +
        `a time up to ${PAST_AT_TOLERANCE_MS / 60_000} minutes back means now, further back is refused: send a time ahead, or none for now`,
    );
  }
  notes.push(`at: ${at.toISOString()} is in the past: sent now (${now.toISOString()})`);
  return now;
}

/** What the builder decided for a post, before any text is composed. */
export interface PostRoute {
  /** The networks deliveries are made for (a network the policy refuses included: the worker skips it, in the audit log). */
  targets: Network[];
  /** The networks of `targets` the sunset policy refuses now, with the reason. */
  refused: Partial<Record<Network, string>>;
  /** Test, Exercise, Draft, System, Ack, Error, an expired alert: kept for the record, never posted. */
  recordOnly: boolean;
  awaitingApproval: boolean;
  /** What the sender is told about networks or parts left out, as submitPost says it. */
  notes: string[];
  /** The post a follow-up answers (the one named, or the one that replaced it before going out). */
  replyTo?: string;
  /** A follow-up's original that awaits approval and is withdrawn when this post is written. */
  supersedes?: string;
}

/** Whether a CAP alert's <expires> is behind `now`: it then tells the public of a past danger. */
export function capExpired(cap: CapInfo | undefined, now: Date): boolean {
  return cap?.expires !== undefined && Date.parse(cap.expires) <= now.getTime();
}

/** Why a CAP message is kept for the record only, or undefined when it is posted. */
function recordOnlyReason(cap: CapInfo | undefined, now: Date): string | undefined {
  if (cap === undefined) return undefined;
  if (RECORD_ONLY.includes(cap.status))
    return `CAP status ${cap.status}: recorded, not posted to the accounts`;
  if (cap.msgType === 'Ack' || cap.msgType === 'Error') {
    return `CAP ${cap.msgType} message: recorded, not posted (it is meant for the alerting system, not the public)`;
  }
  if (capExpired(cap, now)) {
    return `CAP alert expired at ${cap.expires}: recorded, not posted to the accounts`;
  }
  return undefined;
}

/**
 * Where a checked request goes: `targets` from checkRequest, narrowed for a follow-up, judged by
 * the sunset policy at its due time `at`, and nowhere for a record-only CAP message.
 */
export async function routePost(
  store: Store,
  settings: OrgSettings,
  input: Pick<
    SubmitPostInput,
    'organisationId' | 'source' | 'replyToPostId' | 'cap' | 'notes' | 'awaitApproval' | 'noticeOnly'
  >,
  targets: Network[],
  at: Date,
  now: Date,
  notes: string[] = [],
): Promise<PostRoute> {
  notes.push(...(input.notes ?? []));
  const followUp = input.replyToPostId
    ? await followUpOf(store, input, input.replyToPostId, targets)
    : undefined;
  if (followUp) {
    targets = followUp.targets;
    notes.push(...followUp.notes);
  }
  const refused: PostRoute['refused'] = {};
  const xRefusal = targets.includes('x')
    ? policyRefusal({ network: 'x', source: input.source, kind: 'post', dueAt: at }, settings, now)
    : undefined;
  if (xRefusal) {
    refused.x = xRefusal;
    notes.push(`X: ${xRefusal}`);
  }
  const ownRecordReason = recordOnlyReason(input.cap, now);
  const recordReason = ownRecordReason ?? followUp?.recordReason;
  const recordOnly = recordReason !== undefined;
  if (recordReason !== undefined) notes.push(recordReason);
  // A Test, Exercise or expired message is recorded for what it is and replaces nothing.
  const supersedes = ownRecordReason === undefined ? followUp?.supersedes : undefined;
  if (supersedes !== undefined && !recordOnly) {
    const what = input.cap ? `CAP ${input.cap.msgType}` : 'follow-up';
    notes.push(
      `its original ${supersedes} has not gone out (it awaits approval): this ${what} replaces it, on its networks and not as a reply, and it can no longer be approved`,
    );
  }
  const secondPerson =
    input.source === 'crisis'
      ? settings.document.crisis?.approval === 'second-person'
      : settings.document.mirror?.approval === 'second-person';
  const awaitingApproval =
    !recordOnly && (secondPerson || (input.source === 'crisis' && input.awaitApproval === true));
  if (awaitingApproval) {
    notes.push(
      secondPerson
        ? 'waiting for a second person to approve it (approval: second-person)'
        : 'waiting for a person to approve it (a CAP feed in mode approve)',
    );
  }
  return {
    targets,
    refused,
    recordOnly,
    awaitingApproval,
    notes,
    ...(followUp ? { replyTo: followUp.replyTo } : {}),
    ...(supersedes !== undefined ? { supersedes } : {}),
  };
}

/** One network's text, composed and split into the thread parts it is posted as. */
export function threadOf(
  settings: OrgSettings,
  content: Pick<StoredContent, 'text' | 'variants' | 'link'>,
  source: SubmitPostInput['source'],
  network: Network,
): { text: string; parts: string[] } {
  const text = composeText(settings, content, source, network);
  return { text, parts: splitThread(text, network, { limits: textLimitsOf(settings.document) }) };
}

export interface PreviewNetwork {
  network: Network;
  label: string;
  text: string;
  parts: { text: string; length: number; limit: number; unit: string; costMicros?: number }[];
  /** On X: what the post will cost (each part is a request), and why it costs the URL price. */
  cost?: { totalMicros: number; warning?: string };
}

export interface Preview {
  /** The networks the post would be sent to, each as it will read there; none for a record-only message. */
  networks: PreviewNetwork[];
  /** Why a network asked for is left out (policy, follow-up, record-only), and what waits for approval. */
  notes: string[];
}

/** What a preview needs of a request: a post as submitPost takes it, without who sends it. */
export type PreviewInput = Omit<SubmitPostInput, 'actor' | 'person' | 'requestId' | 'clientKey'>;

/**
 * How a post would go out, nothing stored: the same choice of networks, the same policy and the
 * same texts and parts as submitPost, each part measured against its network's limit. A network
 * the sunset policy refuses now is left out (the worker would skip it), with the reason in `notes`.
 */
export async function preview(
  ctx: { store: Store; settings: OrgSettingsCache; xPrices?: XPriceTable },
  input: PreviewInput,
  now: Date = new Date(),
): Promise<Preview> {
  const settings = await ctx.settings.get(input.organisationId);
  const notes: string[] = [];
  const at = dueTimeOf(input.at, now, notes, true);
  const targets = checkRequest({ ...input, at }, settings);
  const route = await routePost(ctx.store, settings, input, targets, at, now, notes);
  if (route.recordOnly) return { networks: [], notes: route.notes };
  const limits = textLimitsOf(settings.document);
  return {
    networks: route.targets
      .filter((network) => route.refused[network] === undefined)
      .map((network) => {
        const { text, parts } = threadOf(settings, input, input.source, network);
        const costs =
          network === 'x' ? parts.map((part) => costOf({ kind: 'create', text: part }, ctx.xPrices)) : [];
        const warning =
          network === 'x'
            ? parts.map((part) => xLinkCostWarning(part, ctx.xPrices)).find((w) => w !== undefined)
            : undefined;
        return {
          network,
          label: NETWORK_LABELS[network],
          text,
          parts: parts.map((part, i) => {
            const m = measure(part, network, limits);
            return {
              text: part,
              length: m.length,
              limit: m.limit,
              unit: m.unit,
              ...(network === 'x' ? { costMicros: costs[i] ?? 0 } : {}),
            };
          }),
          ...(network === 'x'
            ? {
                cost: {
                  totalMicros: costs.reduce((a, b) => a + b, 0),
                  ...(warning ? { warning } : {}),
                },
              }
            : {}),
        };
      }),
    notes: route.notes,
  };
}

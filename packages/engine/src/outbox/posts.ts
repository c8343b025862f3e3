/**
 * Posts that come through the API rather than the plan: ordinary posts mirrored to the networks
 * the plan allows at that moment, and crisis posts (JSON or CAP) that reach every crisis network
 * with top priority. Each is stored (post, one delivery per network with its thread parts, the
 * images, the audit entry) in one transaction, then queued. It is accepted only once both are
 * done: when Redis cannot take the jobs, the deliveries are cancelled again and the caller is
 * told, so that no client is ever told "accepted" for a post that may never go out, and no
 * retry by the client can post it twice.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  batchOneAtATime,
  canonicalJson,
  InputError,
  NETWORKS,
  NETWORK_LABELS,
  SunsetError,
  type Network,
} from '@sunset/core';
import { textLimitsOf } from '@sunset/plan';
import { jobIdFor, PRIORITY, RedisSetupError, type Queues } from '@sunset/queue';
import type {
  AuditInput,
  Delivery,
  DeliveryStatus,
  NewDelivery,
  Post,
  Repositories,
  Store,
} from '@sunset/store';
import { splitThread } from '@sunset/text';
import type { OrgSettings, OrgSettingsCache } from './org-settings.ts';
import { policyRefusal } from './policy.ts';

/** The 503 case: the post was not accepted and nothing of it will be sent. */
export class NotAcceptedError extends SunsetError {
  constructor(message: string, options?: ErrorOptions) {
    super('engine.not-accepted', message, options);
  }
}

export interface PostImageInput {
  data: Uint8Array;
  mediaType: string;
  alt: string;
}

/** What CAP 1.2 brought, kept with the post for the record. */
export interface CapInfo {
  identifier: string;
  sender: string;
  sent: string;
  status: 'Actual' | 'Exercise' | 'System' | 'Test' | 'Draft';
  msgType: 'Alert' | 'Update' | 'Cancel' | 'Ack' | 'Error';
  /** `sender,identifier,sent` triples of the alerts this one follows up. */
  references?: string[];
}

export interface SubmitPostInput {
  organisationId: string;
  source: 'ordinary' | 'crisis';
  text: string;
  variants?: Partial<Record<Network, string>>;
  images?: PostImageInput[];
  /** BCP 47; default the plan's locale. */
  language?: string;
  /** Crisis: the official page to link (default the plan's crisis.link), appended when the text has none. */
  link?: string;
  /** Only these networks (each must be configured in the plan); default the plan's choice. */
  networks?: Network[];
  /** Ordinary posts may be scheduled; default now. */
  at?: Date;
  /** The post this one follows up: its parts are posted as replies under the original's. */
  replyToPostId?: string;
  cap?: CapInfo;
  /**
   * A key the client sends again on a retry (Idempotency-Key): the same post, never a second.
   * Keys live in one space per source (ordinary, JSON crisis, CAP, see postIdForKey), and a key
   * sent again with other content is refused (IdempotencyConflictError).
   */
  clientKey?: string;
  /** `token:<name>`, `cli:<user>`. */
  actor: string;
  /** The person behind the actor (a token's person); default the actor's name. */
  person?: string;
  requestId?: string;
}

/** Who did something to a post: the person, and the token (or other actor) they used. */
export interface PostActor {
  person: string;
  token: string;
}

export type SubmitState = 'accepted' | 'awaiting-approval' | 'recorded';

export interface SubmitResult {
  postId: string;
  state: SubmitState;
  /** True when the client key matched a post already accepted: nothing new was created. */
  duplicate: boolean;
  deliveries: { network: Network; deliveryId: string; parts: number }[];
  /** Why a network asked for gets nothing (recorded-only CAP statuses…). */
  notes: string[];
}

interface StoredContent {
  text: string;
  variants?: Partial<Record<Network, string>>;
  images: { sha256: string; mediaType: string; alt: string }[];
  language: string;
  link?: string;
  networks: Network[];
  at: string;
  cap?: CapInfo;
  /** Who sent it (posts stored before persons existed have only the post's createdBy). */
  sentBy?: PostActor;
  /** Set while a crisis post waits for a second person. */
  awaitingApproval?: boolean;
  /** A string (the actor) on posts approved before persons existed. */
  approvedBy?: PostActor | string;
  /** Test, Exercise, Draft: kept for the record, never posted. */
  recordOnly?: boolean;
  clientKey?: string;
  /** sha256 of what the client asked for (requestDigest): a key sent again must ask for the same. */
  requestDigest?: string;
}

/** Images each network takes (NETWORKS.md): count, bytes, alt text. */
const IMAGE_RULES: Record<Network, { bytes: number; alt: number }> = {
  x: { bytes: 5_000_000, alt: 1000 },
  bluesky: { bytes: 2_000_000, alt: 2000 },
  mastodon: { bytes: 16_000_000, alt: 1500 },
};
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
const URL_IN_TEXT = /\bhttps?:\/\/\S+/i;
const RECORD_ONLY: readonly CapInfo['status'][] = ['Test', 'Exercise', 'Draft', 'System'];

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Where a client key lives: a key of one space never names a post of another. */
export type KeySpace = 'ordinary' | 'crisis' | 'cap';

/**
 * The id a post sent with this client key gets. CAP alerts (key `cap:<sender>,<identifier>,<sent>`)
 * and ordinary posts keep the ids they always had; a JSON crisis key is hashed under a `json:`
 * prefix, so that no Idempotency-Key a person sends can name a CAP alert's post.
 */
export function postIdForKey(space: KeySpace, organisationId: string, clientKey: string): string {
  const prefix = space === 'ordinary' ? 'p' : 'c';
  const spaced = space === 'crisis' ? `json:${clientKey}` : clientKey;
  return `${prefix}-k${sha256(`${organisationId}\n${spaced}`).slice(0, 24)}`;
}

function keySpaceOf(input: SubmitPostInput): KeySpace {
  return input.source === 'ordinary' ? 'ordinary' : input.cap ? 'cap' : 'crisis';
}

function newPostId(input: SubmitPostInput): string {
  if (input.clientKey !== undefined)
    return postIdForKey(keySpaceOf(input), input.organisationId, input.clientKey);
  const prefix = input.source === 'crisis' ? 'c' : 'p';
  return `${prefix}-${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
}

/** The person behind an actor when none is given: a token's name (as migration 0004 sets it). */
function personOf(actor: string, person?: string): string {
  return person ?? (actor.startsWith('token:') ? actor.slice('token:'.length) : actor);
}

function actorOf(actor: string, person?: string): PostActor {
  return { person: personOf(actor, person), token: actor.startsWith('token:') ? actor.slice(6) : actor };
}

/**
 * What the client asked for, as a digest: everything that shapes the post, as sent (not the
 * defaults filled in later, so that a retry a minute on still matches).
 */
function requestDigest(input: SubmitPostInput): string {
  return sha256(
    canonicalJson({
      source: input.source,
      text: input.text,
      variants: input.variants ?? null,
      images: (input.images ?? []).map((im) => ({
        sha256: sha256(im.data),
        mediaType: im.mediaType,
        alt: im.alt,
      })),
      language: input.language ?? null,
      link: input.link ?? null,
      networks: input.networks ?? null,
      at: input.at?.toISOString() ?? null,
      replyTo: input.replyToPostId ?? null,
      cap: input.cap ?? null,
    }),
  );
}

/** 409: an Idempotency-Key sent again with other content; the first post stands. */
export class IdempotencyConflictError extends SunsetError {
  constructor(message: string) {
    super('engine.idempotency-conflict', message);
  }
}

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
function check(input: SubmitPostInput, settings: OrgSettings): Network[] {
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

function deliveriesFor(
  settings: OrgSettings,
  post: { id: string; source: SubmitPostInput['source'] },
  content: StoredContent,
  targets: readonly Network[],
): Omit<NewDelivery, 'jobId'>[] {
  const limits = textLimitsOf(settings.document);
  return targets.map((network) => {
    const text = composeText(settings, content, post.source, network);
    const parts = splitThread(text, network, { limits }).map((partText, i) => ({
      part: i + 1,
      text: partText,
      language: content.language,
      images: i === 0 ? content.images : [],
    }));
    return {
      id: `${settings.organisationId}.${post.id}.${network}`,
      organisationId: settings.organisationId,
      actionKey: `post.${post.id}.${network}`,
      postId: post.id,
      kind: 'post' as const,
      source: post.source,
      network,
      dueAt: new Date(content.at),
      priority: post.source === 'crisis' ? PRIORITY.crisis : PRIORITY.ordinary,
      // The plan it was accepted under: the worker judges it by that plan or a newer one.
      planVersion: settings.version,
      contentHash: sha256(canonicalJson(parts)),
      parts,
    };
  });
}

export interface PostsContext {
  store: Store;
  /** Without queues nothing is accepted: the caller answers 503. */
  queues: Queues | undefined;
  settings: OrgSettingsCache;
}

/** The networks where the original of a follow-up went out (or is going out): the follow-up goes there. */
async function followUpTargets(
  store: Store,
  organisationId: string,
  originalId: string,
  wanted: readonly Network[],
): Promise<Network[]> {
  const original = await store.posts.get(organisationId, originalId);
  if (!original) throw new InputError(`replyTo: there is no post ${originalId} in ${organisationId}`);
  const live: DeliveryStatus[] = ['queued', 'sending', 'published'];
  const deliveries = await store.deliveries.list({ organisationId, postId: originalId });
  return wanted.filter((n) => deliveries.some((d) => d.network === n && live.includes(d.status)));
}

async function enqueueOrWithdraw(
  ctx: PostsContext,
  deliveries: Delivery[],
  input: { actor: string; requestId?: string },
) {
  try {
    if (!ctx.queues) throw new RedisSetupError('no connection to Redis');
    await ctx.queues.enqueueMany(deliveries);
  } catch (err) {
    // Not accepted: take the deliveries back so that the reconciler never sends them later.
    await ctx.store.transaction(async (tx) => {
      for (const d of deliveries) {
        await tx.deliveries.finish(d.id, 'cancelled', {
          lastError: 'not accepted: the job queue was unavailable',
        });
        await tx.audit.append({
          organisationId: d.organisationId,
          actor: input.actor,
          action: 'delivery.withdrawn',
          network: d.network,
          postId: d.postId,
          deliveryId: d.id,
          ...(input.requestId ? { requestId: input.requestId } : {}),
          outcome: 'error',
          error: (err as Error).message,
        });
      }
    });
    throw new NotAcceptedError(
      `the post was not accepted: the job queue is unavailable (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
}

async function insertDeliveries(tx: Repositories, wanted: Omit<NewDelivery, 'jobId'>[]): Promise<Delivery[]> {
  return tx.deliveries.insertMany(wanted.map((w) => ({ ...w, jobId: jobIdFor(w.id) })));
}

/** One post's rows, ready to be written: its images, the post, its deliveries, its audit entry. */
interface PostWrite {
  blobs: { sha256: string; mediaType: string; data: Uint8Array }[];
  post: Omit<Post, 'createdAt'>;
  deliveries: Omit<NewDelivery, 'jobId'>[];
  audit: AuditInput;
}

interface Written {
  post: Post;
  deliveries: Delivery[];
}

/**
 * Writes several posts in one go, committed together (store.insertPostsAudited: on PostgreSQL
 * one statement for posts without images), whatever their number. Entries are chained in order.
 */
async function writePosts(store: Store, writes: readonly PostWrite[]): Promise<Written[]> {
  const blobs = new Map(writes.flatMap((w) => w.blobs.map((b) => [b.sha256, b] as const)));
  const written = await store.insertPostsAudited(
    writes.map((w) => w.post),
    writes.flatMap((w) => w.deliveries).map((d) => ({ ...d, jobId: jobIdFor(d.id) })),
    writes.map((w) => w.audit),
    [...blobs.values()],
  );
  let next = 0;
  return writes.map((w, i) => {
    const mine = written.deliveries.slice(next, next + w.deliveries.length);
    next += w.deliveries.length;
    return { post: written.posts[i]!, deliveries: mine };
  });
}

/** Posts per batch: a burst larger than this goes in several. */
const BATCH_MAX = 200;

/**
 * Writes the posts of concurrent requests together, one batch at a time per store (a second batch
 * alongside measured worse under the API bench: both smaller and slower, as each waits for the
 * audit chain's head anyway). A post that finds no batch on its way is written on the next turn
 * of the event loop: requests answered by the same lookups reach this point one after the other
 * in one turn, and go in one batch instead of the first ones alone, while a lone crisis waits no
 * more than that turn. All of the posts commit together (on PostgreSQL in one statement, see
 * writePosts); each caller hears only after the commit that holds its post. A batch that fails is
 * written again one post at a time, so that a post which cannot be written fails alone and the
 * others do not.
 */
function postWriter(store: Store): (write: PostWrite) => Promise<Written> {
  return batchOneAtATime(
    async (batch: PostWrite[]): Promise<(Written | Promise<Written>)[]> => {
      try {
        return await writePosts(store, batch);
      } catch (err) {
        // Nothing of the batch was kept: each post on its own, so only the faulty one fails.
        if (batch.length === 1) throw err;
        return batch.map((w) => writePosts(store, [w]).then(([one]) => one!));
      }
    },
    { max: BATCH_MAX, defer: true },
  );
}

const writers = new WeakMap<Store, (write: PostWrite) => Promise<Written>>();

function writerFor(store: Store): (write: PostWrite) => Promise<Written> {
  let writer = writers.get(store);
  if (!writer) {
    writer = postWriter(store);
    writers.set(store, writer);
  }
  return writer;
}

function resultOf(
  post: Post,
  state: SubmitState,
  deliveries: Delivery[],
  duplicate: boolean,
  notes: string[],
): SubmitResult {
  return {
    postId: post.id,
    state,
    duplicate,
    deliveries: deliveries.map((d) => ({ network: d.network, deliveryId: d.id, parts: d.parts.length })),
    notes,
  };
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
function dueTimeOf(at: Date | undefined, now: Date, notes: string[], refuse: boolean): Date {
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

/** Stores and queues an ordinary or crisis post; see the module comment for what "accepted" means. */
export async function submitPost(ctx: PostsContext, input: SubmitPostInput): Promise<SubmitResult> {
  const settings = await ctx.settings.get(input.organisationId);
  // The worker judges the sunset again with the store's clock as each X part leaves; this
  // process's clock only picks the due time and the networks.
  const now = new Date();
  const requested = input;
  input = { ...input, at: dueTimeOf(input.at, now, [], false) };
  let targets = check(input, settings);
  const postId = newPostId(input);
  const digest = input.clientKey === undefined ? undefined : requestDigest(requested);

  // A random id is new by construction; only a client's key can name a post sent before.
  const existing =
    input.clientKey === undefined ? undefined : await ctx.store.posts.get(input.organisationId, postId);
  if (existing) {
    const deliveries = await ctx.store.deliveries.list({ organisationId: input.organisationId, postId });
    const c = existing.content as StoredContent;
    // A CAP alert is its triple (sender, identifier, sent): a resend is the same alert, whatever
    // its serialisation. Posts stored before digests existed cannot be compared.
    if (!input.cap && c.requestDigest !== undefined && c.requestDigest !== digest) {
      throw new IdempotencyConflictError(
        `this Idempotency-Key was used for a different request on ${existing.createdAt.toISOString()}; send a new key`,
      );
    }
    const state: SubmitState = c.recordOnly
      ? 'recorded'
      : c.awaitingApproval
        ? 'awaiting-approval'
        : 'accepted';
    return resultOf(existing, state, deliveries, true, []);
  }
  const notes: string[] = [];
  dueTimeOf(requested.at, now, notes, true);
  if (input.replyToPostId) {
    const before = targets;
    targets = await followUpTargets(ctx.store, input.organisationId, input.replyToPostId, targets);
    for (const n of before.filter((x) => !targets.includes(x))) {
      notes.push(
        `${NETWORK_LABELS[n]}: the original post did not go out there, so its follow-up does not either`,
      );
    }
  }
  const xRefusal = targets.includes('x')
    ? policyRefusal({ network: 'x', source: input.source, kind: 'post', dueAt: input.at! }, settings, now)
    : undefined;
  if (xRefusal) notes.push(`X: ${xRefusal}`);
  const cap = input.cap;
  const recordOnly =
    cap !== undefined &&
    (RECORD_ONLY.includes(cap.status) || cap.msgType === 'Ack' || cap.msgType === 'Error');
  if (cap && recordOnly) {
    notes.push(
      RECORD_ONLY.includes(cap.status)
        ? `CAP status ${cap.status}: recorded, not posted to the accounts`
        : `CAP ${cap.msgType} message: recorded, not posted (it is meant for the alerting system, not the public)`,
    );
  }
  const awaitingApproval =
    !recordOnly && input.source === 'crisis' && settings.document.crisis?.approval === 'second-person';
  if (awaitingApproval) notes.push('waiting for a second person to approve it (approval: second-person)');
  // Without Redis nothing can be accepted: say so before writing anything.
  if (!recordOnly && !awaitingApproval && (!ctx.queues || !ctx.queues.ready())) {
    throw new NotAcceptedError('the post was not accepted: the job queue (Redis) is not answering');
  }

  const images = (input.images ?? []).map((im) => ({ ...im, sha256: sha256(im.data) }));
  const sender = actorOf(input.actor, input.person);
  const content: StoredContent = {
    text: input.text,
    ...(input.variants ? { variants: input.variants } : {}),
    images: images.map((im) => ({ sha256: im.sha256, mediaType: im.mediaType, alt: im.alt })),
    language: input.language ?? settings.document.organisation.locale,
    ...(input.link ? { link: input.link } : {}),
    networks: targets,
    at: (input.at ?? now).toISOString(),
    ...(input.cap ? { cap: input.cap } : {}),
    sentBy: sender,
    ...(awaitingApproval ? { awaitingApproval: true } : {}),
    ...(recordOnly ? { recordOnly: true } : {}),
    ...(input.clientKey !== undefined ? { clientKey: input.clientKey } : {}),
    ...(digest !== undefined ? { requestDigest: digest } : {}),
  };
  const wanted =
    recordOnly || awaitingApproval
      ? []
      : deliveriesFor(settings, { id: postId, source: input.source }, content, targets);
  const state: SubmitState = recordOnly ? 'recorded' : awaitingApproval ? 'awaiting-approval' : 'accepted';

  const { post, deliveries } = await writerFor(ctx.store)({
    blobs: images.map((im) => ({ sha256: im.sha256, mediaType: im.mediaType, data: im.data })),
    post: {
      organisationId: input.organisationId,
      id: postId,
      source: input.source,
      ...(input.replyToPostId ? { replyToPostId: input.replyToPostId } : {}),
      content,
      createdBy: input.actor,
    },
    deliveries: wanted,
    audit: {
      organisationId: input.organisationId,
      actor: input.actor,
      action: `${input.source === 'crisis' ? 'crisis' : 'post'}.${state}`,
      postId,
      ...(input.requestId ? { requestId: input.requestId } : {}),
      outcome: 'ok',
      after: {
        text: input.text,
        ...(input.variants ? { variants: input.variants } : {}),
        networks: targets,
        images: content.images,
        ...(input.replyToPostId ? { replyTo: input.replyToPostId } : {}),
      },
      details: {
        deliveries: wanted.map((d) => ({ id: d.id, parts: d.parts.length })),
        ...(input.cap ? { cap: input.cap } : {}),
        ...(notes.length ? { notes } : {}),
        person: sender.person,
      },
    },
  });
  if (deliveries.length > 0) await enqueueOrWithdraw(ctx, deliveries, input);
  return resultOf(post, state, deliveries, false, notes);
}

/** The second person's approval of a crisis post: its deliveries are created and queued now. */
export async function approveCrisis(
  ctx: PostsContext,
  input: { organisationId: string; postId: string; actor: string; person?: string; requestId?: string },
): Promise<SubmitResult> {
  const settings = await ctx.settings.get(input.organisationId);
  const post = await ctx.store.posts.get(input.organisationId, input.postId);
  if (!post || post.source !== 'crisis')
    throw new InputError(`there is no crisis post ${input.postId} in ${input.organisationId}`);
  const content = post.content as StoredContent;
  if (!content.awaitingApproval) {
    const deliveries = await ctx.store.deliveries.list({
      organisationId: input.organisationId,
      postId: post.id,
    });
    return resultOf(post, content.recordOnly ? 'recorded' : 'accepted', deliveries, true, [
      'already approved',
    ]);
  }
  // Persons, not tokens: whoever sent it cannot approve it under another token of theirs, an
  // admin token included.
  const sender = content.sentBy ?? actorOf(post.createdBy);
  const approver = actorOf(input.actor, input.person);
  if (sender.person === approver.person) {
    const message = `${sender.person} sent this crisis post (token ${sender.token}) and cannot approve it: a second person must, not another token of theirs`;
    await ctx.store.audit.append({
      organisationId: input.organisationId,
      actor: input.actor,
      action: 'crisis.approval-refused',
      postId: post.id,
      ...(input.requestId ? { requestId: input.requestId } : {}),
      outcome: 'refused',
      error: message,
      details: { person: approver.person, sentBy: sender },
    });
    throw new ApprovalError(message);
  }
  if (!ctx.queues || !ctx.queues.ready()) {
    throw new NotAcceptedError('the approval was not accepted: the job queue (Redis) is not answering');
  }
  const wanted = deliveriesFor(settings, { id: post.id, source: 'crisis' }, content, content.networks);
  const deliveries = await ctx.store.transaction(async (tx) => {
    const inserted = await insertDeliveries(tx, wanted);
    await tx.posts.setContent(post.organisationId, post.id, {
      ...content,
      awaitingApproval: false,
      approvedBy: approver,
    });
    await tx.audit.append({
      organisationId: input.organisationId,
      actor: input.actor,
      action: 'crisis.approved',
      postId: post.id,
      ...(input.requestId ? { requestId: input.requestId } : {}),
      outcome: 'ok',
      before: { awaitingApproval: true, createdBy: post.createdBy, sentBy: sender },
      after: { approvedBy: approver },
      details: {
        deliveries: inserted.map((d) => ({ id: d.id, parts: d.parts.length })),
        person: approver.person,
      },
    });
    return inserted;
  });
  await enqueueOrWithdraw(ctx, deliveries, input);
  return resultOf(post, 'accepted', deliveries, false, []);
}

/** A person may not approve their own crisis post. */
export class ApprovalError extends SunsetError {
  constructor(message: string) {
    super('engine.approval', message);
  }
}

export interface PostState {
  post: Post;
  state: SubmitState;
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
  const content = post.content as StoredContent;
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
  return {
    post,
    state: content.recordOnly ? 'recorded' : content.awaitingApproval ? 'awaiting-approval' : 'accepted',
    networks,
  };
}

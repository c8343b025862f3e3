/**
 * Posts that come through the API rather than the plan: ordinary posts mirrored to the networks
 * the plan allows at that moment, and crisis posts (JSON or CAP) that reach every crisis network
 * with top priority. Each is stored (post, one delivery per network with its thread parts, the
 * images, the audit entry) in one transaction, then queued. It is accepted only once both are
 * done: when Redis cannot take the jobs, the deliveries are cancelled again and the caller is
 * told, so that no client is ever told "accepted" for a post that may never go out, and no
 * retry by the client can post it twice.
 */
import { createHash, randomFillSync } from 'node:crypto';
import {
  batchOneAtATime,
  canonicalJson,
  ConflictError,
  NotFoundError,
  SunsetError,
  type Logger,
  type Network,
} from '@sunset/core';
import { jobIdFor, PRIORITY, RedisSetupError, type Queues } from '@sunset/queue';
import type { AuditInput, Delivery, NewDelivery, Post, Repositories, Store } from '@sunset/store';
import { capExpired, checkRequest, dueTimeOf, routePost, threadOf } from './compose.ts';
import { notify } from './notifications.ts';
import type { OrgSettings, OrgSettingsCache } from './org-settings.ts';
import {
  storedContentOf,
  type PostActor,
  type StoredContent,
  type SubmitPostInput,
  type SubmitResult,
  type SubmitState,
} from './post-types.ts';

/** The 503 case: the post was not accepted and nothing of it will be sent. */
export class NotAcceptedError extends SunsetError {
  constructor(message: string, options?: ErrorOptions) {
    super('engine.not-accepted', message, options);
  }
}

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

/**
 * Ten random hex digits (five bytes), from a buffer filled 4 KiB at a time: one call into the
 * random source per 800 posts instead of one per post.
 */
const RANDOM_POOL = Buffer.alloc(4096);
let randomAt = RANDOM_POOL.length;
function randomHex10(): string {
  if (randomAt + 5 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  randomAt += 5;
  return RANDOM_POOL.toString('hex', randomAt - 5, randomAt);
}

function newPostId(input: SubmitPostInput): string {
  if (input.clientKey !== undefined)
    return postIdForKey(keySpaceOf(input), input.organisationId, input.clientKey);
  const prefix = input.source === 'crisis' ? 'c' : 'p';
  return `${prefix}-${Date.now().toString(36)}${randomHex10()}`;
}

/** The person behind an actor when none is given: a token's name (as migration 0004 sets it). */
function personOf(actor: string, person?: string): string {
  return person ?? (actor.startsWith('token:') ? actor.slice('token:'.length) : actor);
}

export function actorOf(actor: string, person?: string): PostActor {
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

function sameTexts(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((text, i) => text === b[i]);
}

export function deliveriesFor(
  settings: OrgSettings,
  post: { id: string; source: SubmitPostInput['source'] },
  content: StoredContent,
  targets: readonly Network[],
): Omit<NewDelivery, 'jobId'>[] {
  // Networks given the same texts (a crisis without variants, mostly) have equal parts: one hash.
  const hashes: { texts: string[]; hash: string }[] = [];
  return targets.map((network) => {
    const texts = threadOf(settings, content, post.source, network).parts;
    const parts = texts.map((partText, i) => ({
      part: i + 1,
      text: partText,
      language: content.language,
      images: i === 0 ? content.images : [],
    }));
    let contentHash = hashes.find((h) => sameTexts(h.texts, texts))?.hash;
    if (contentHash === undefined) {
      contentHash = sha256(canonicalJson(parts));
      hashes.push({ texts, hash: contentHash });
    }
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
      contentHash,
      parts,
      // The worker sends nothing of an alert once its sender says it is over.
      ...(content.cap?.expires !== undefined ? { payload: { capExpires: content.cap.expires } } : {}),
    };
  });
}

export interface PostsContext {
  store: Store;
  /** Without queues nothing is accepted: the caller answers 503. */
  queues: Queues | undefined;
  settings: OrgSettingsCache;
  /** Where a notification that could not be queued is said (it never fails the post). */
  logger?: Logger;
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

/** The original a follow-up was to replace was approved or withdrawn before it could be. */
class OriginalChangedError extends SunsetError {
  constructor(postId: string) {
    super('engine.original-changed', `post ${postId} no longer awaits approval`);
  }
}

/**
 * A follow-up that replaces its original, which awaits approval: the follow-up is written and the
 * original withdrawn in one transaction, under the organisation's lock that approvals take too, so
 * an original is either approved or replaced, never both.
 */
async function writeSuperseding(
  store: Store,
  write: PostWrite,
  originalId: string,
  by: PostActor,
): Promise<Written> {
  const { organisationId } = write.post;
  return store.transaction(async (tx) => {
    await tx.organisations.lock(organisationId);
    const original = await tx.posts.get(organisationId, originalId);
    const content = original ? storedContentOf(original) : undefined;
    if (!original || !content?.awaitingApproval || content.cancelled)
      throw new OriginalChangedError(originalId);
    for (const blob of write.blobs) await tx.blobs.put(blob);
    const { posts, deliveries } = await tx.posts.insertWithDeliveries(
      [write.post],
      write.deliveries.map((d) => ({ ...d, jobId: jobIdFor(d.id) })),
    );
    await tx.audit.append(write.audit);
    await tx.posts.setContent(organisationId, originalId, {
      ...content,
      awaitingApproval: false,
      cancelled: { by, at: new Date().toISOString(), supersededBy: write.post.id },
    } satisfies StoredContent);
    await tx.audit.append({
      organisationId,
      actor: write.audit.actor,
      action: `${original.source === 'crisis' ? 'crisis' : 'post'}.superseded`,
      postId: originalId,
      ...(write.audit.requestId ? { requestId: write.audit.requestId } : {}),
      outcome: 'ok',
      before: { awaitingApproval: true, networks: content.networks },
      details: { supersededBy: write.post.id, person: by.person },
    });
    return { post: posts[0]!, deliveries };
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

/** Stores and queues an ordinary or crisis post; see the module comment for what "accepted" means. */
export async function submitPost(
  ctx: PostsContext,
  input: SubmitPostInput,
  retried = false,
): Promise<SubmitResult> {
  const settings = await ctx.settings.ofLatest(input.organisationId, input.planVersion);
  // The worker judges the sunset again with the store's clock as each X part leaves; this
  // process's clock only picks the due time and the networks.
  const now = new Date();
  const requested = input;
  input = { ...input, at: dueTimeOf(input.at, now, [], false) };
  const checked = checkRequest(input, settings);
  const postId = newPostId(input);
  const digest = input.clientKey === undefined ? undefined : requestDigest(requested);

  // A random id is new by construction; only a client's key can name a post sent before.
  const existing =
    input.clientKey === undefined ? undefined : await ctx.store.posts.get(input.organisationId, postId);
  if (existing) {
    const deliveries = await ctx.store.deliveries.list({ organisationId: input.organisationId, postId });
    const c = storedContentOf(existing);
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
  const { targets, recordOnly, awaitingApproval, replyTo, supersedes } = await routePost(
    ctx.store,
    settings,
    input,
    checked,
    input.at!,
    now,
    notes,
  );
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

  const write: PostWrite = {
    blobs: images.map((im) => ({ sha256: im.sha256, mediaType: im.mediaType, data: im.data })),
    post: {
      organisationId: input.organisationId,
      id: postId,
      source: input.source,
      ...(replyTo ? { replyToPostId: replyTo } : {}),
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
        ...(replyTo ? { replyTo } : {}),
      },
      details: {
        deliveries: wanted.map((d) => ({ id: d.id, parts: d.parts.length })),
        ...(input.cap ? { cap: input.cap } : {}),
        ...(notes.length ? { notes } : {}),
        ...(supersedes ? { supersedes } : {}),
        person: sender.person,
      },
    },
  };
  let written: Written;
  if (supersedes === undefined) {
    written = await writerFor(ctx.store)(write);
  } else {
    try {
      written = await writeSuperseding(ctx.store, write, supersedes, sender);
    } catch (err) {
      // Approved or withdrawn meanwhile: routed again, the follow-up now sees what became of it.
      if (err instanceof OriginalChangedError && !retried) return submitPost(ctx, requested, true);
      throw err;
    }
  }
  const { post, deliveries } = written;
  if (deliveries.length > 0) await enqueueOrWithdraw(ctx, deliveries, input);
  if (awaitingApproval) {
    // The people who can approve it hear of it now, not when someone opens the dashboard.
    await notify(
      ctx.queues,
      {
        organisationId: input.organisationId,
        event:
          input.source === 'ordinary'
            ? 'post.awaiting-approval'
            : input.awaitApproval
              ? 'feed.alert-drafted'
              : 'crisis.awaiting-approval',
        postId,
        key: postId,
      },
      ctx.logger,
    );
  }
  return resultOf(post, state, deliveries, false, notes);
}

/** The second person's approval of a crisis post: its deliveries are created and queued now. */
export async function approveCrisis(
  ctx: PostsContext,
  input: { organisationId: string; postId: string; actor: string; person?: string; requestId?: string },
): Promise<SubmitResult> {
  return approvePost(ctx, { ...input, source: 'crisis' });
}

/**
 * The second person's approval of a crisis or ordinary post (crisis.approval, mirror.approval):
 * nothing of it was queued before; its deliveries are created and queued now.
 */
export async function approvePost(
  ctx: PostsContext,
  input: {
    organisationId: string;
    postId: string;
    source: 'crisis' | 'ordinary';
    actor: string;
    person?: string;
    requestId?: string;
  },
): Promise<SubmitResult> {
  const settings = await ctx.settings.get(input.organisationId);
  const post = await ctx.store.posts.get(input.organisationId, input.postId);
  const kind = input.source === 'crisis' ? 'crisis' : 'post';
  const what = input.source === 'crisis' ? 'crisis post' : 'post';
  if (!post || post.source !== input.source) throw new NotFoundError(`there is no ${what} ${input.postId}`);
  const content = storedContentOf(post);
  const now = new Date();
  if (content.awaitingApproval && capExpired(content.cap, now)) {
    // Approving now would tell the public of a danger its own sender says is over.
    const message = `the CAP alert of this crisis post expired at ${content.cap?.expires}: it can no longer be approved, and stays recorded`;
    await ctx.store.audit.append({
      organisationId: input.organisationId,
      actor: input.actor,
      action: `${kind}.approval-refused`,
      postId: post.id,
      ...(input.requestId ? { requestId: input.requestId } : {}),
      outcome: 'refused',
      error: message,
      details: { person: actorOf(input.actor, input.person).person, expired: content.cap?.expires },
    });
    throw new ConflictError(message, 'crisis-expired');
  }
  if (content.cancelled) throw withdrawnError(post.id, what, content.cancelled);
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
  // Whoever edited it wrote part of what goes out: they cannot approve it either.
  const editor = (content.editedBy ?? []).find((e) => e.person === approver.person);
  if (sender.person === approver.person || editor) {
    const message =
      sender.person === approver.person
        ? `${sender.person} sent this ${what} (token ${sender.token}) and cannot approve it: a second person must, not another token of theirs`
        : `${approver.person} edited this ${what} and cannot approve it: a person who wrote none of it must`;
    await ctx.store.audit.append({
      organisationId: input.organisationId,
      actor: input.actor,
      action: `${kind}.approval-refused`,
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
  const wanted = deliveriesFor(settings, { id: post.id, source: input.source }, content, content.networks);
  const deliveries = await ctx.store.transaction(async (tx) => {
    // The lock a replacing follow-up takes too (writeSuperseding): approved or replaced, not both.
    await tx.organisations.lock(post.organisationId);
    const latest = await tx.posts.get(post.organisationId, post.id);
    const current = latest ? storedContentOf(latest) : undefined;
    if (current?.cancelled) throw withdrawnError(post.id, what, current.cancelled);
    if (!current?.awaitingApproval) return undefined;
    const inserted = await insertDeliveries(tx, wanted);
    await tx.posts.setContent(post.organisationId, post.id, {
      ...content,
      awaitingApproval: false,
      approvedBy: approver,
    });
    await tx.audit.append({
      organisationId: input.organisationId,
      actor: input.actor,
      action: `${kind}.approved`,
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
  if (deliveries === undefined) {
    // Another approval came first.
    const existing = await ctx.store.deliveries.list({
      organisationId: input.organisationId,
      postId: post.id,
    });
    return resultOf(post, 'accepted', existing, true, ['already approved']);
  }
  await enqueueOrWithdraw(ctx, deliveries, input);
  return resultOf(post, 'accepted', deliveries, false, []);
}

/** 409 for approving a post withdrawn before it went out: by a person, or by the follow-up that replaced it. */
function withdrawnError(
  postId: string,
  what: string,
  cancelled: NonNullable<StoredContent['cancelled']>,
): ConflictError {
  return new ConflictError(
    cancelled.supersededBy !== undefined
      ? `${what} ${postId} was replaced by ${cancelled.supersededBy}, which followed it up before it was approved: approve that one instead`
      : `${what} ${postId} was withdrawn by ${cancelled.by.person} at ${cancelled.at}: it can no longer be approved`,
    'withdrawn',
  );
}

/** A person may not approve their own crisis or ordinary post. */
export class ApprovalError extends SunsetError {
  constructor(message: string) {
    super('engine.approval', message);
  }
}

/**
 * What a person does to an ordinary post after sending it and before it goes out (edit, cancel),
 * and to a delivery that failed or needs attention (retry). The rules are the plan re-apply's:
 * only waiting deliveries change, and a thread with parts on the network takes a change only
 * when it begins with exactly those parts, so nobody reads "1/3, 2/3" then "3/4". Every change
 * is written with its audit entry in one transaction, then the jobs follow.
 */
import { createHash } from 'node:crypto';
import { ConflictError, NETWORK_LABELS, NotFoundError, type Network } from '@sunset/core';
import { jobIdFor, laneOf, nextJobId, type DeliveryJobSpec, type Lane } from '@sunset/queue';
import type { Delivery, DeliveryHead, DeliveryStatus, Post } from '@sunset/store';
import { REWRITTEN, started, startedParts, tooLateForThread } from './apply.ts';
import { checkRequest, dueTimeOf, routePost } from './compose.ts';
import { actorOf, deliveriesFor, NotAcceptedError, type PostsContext } from './posts.ts';
import { storedContentOf, type PostImageInput, type StoredContent } from './post-types.ts';
import { CREDITS_EXHAUSTED_REASON } from './x-economy.ts';

export interface PostChangeInput {
  organisationId: string;
  postId: string;
  actor: string;
  person?: string;
  requestId?: string;
}

/** What an edit may change; a field left out keeps its value. */
export interface PostEdit {
  text?: string;
  variants?: Partial<Record<Network, string>>;
  networks?: Network[];
  language?: string;
  at?: Date;
  /** Replaces every image; left out, the post keeps its images. */
  images?: PostImageInput[];
}

export interface PostChangeResult {
  postId: string;
  /** What changed on each network: replaced, added, cancelled. */
  changes: { network: Network; deliveryId: string; change: 'replaced' | 'added' | 'cancelled' }[];
  notes: string[];
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function ordinaryPost(ctx: PostsContext, organisationId: string, postId: string): Promise<Post> {
  const post = await ctx.store.posts.get(organisationId, postId);
  if (!post || post.source !== 'ordinary') throw new NotFoundError(`there is no post ${postId}`);
  return post;
}

/** A post whose deliveries a change would touch must have none a worker holds or has finished. */
function statusRefusal(d: DeliveryHead): string | undefined {
  const label = NETWORK_LABELS[d.network];
  if (d.status === 'sending') return `${label}: being sent right now; too late to change it`;
  if (d.status === 'published') return `${label}: already published; it cannot be taken back`;
  if (!REWRITTEN.includes(d.status)) return `${label}: ${d.status}; retry or leave it, it cannot be changed`;
  return undefined;
}

/** Removes the jobs of changed deliveries and adds the new ones; Redis away leaves it to the reconciler. */
async function moveJobs(
  ctx: PostsContext,
  remove: { network: Network; jobId: string; lane: Lane }[],
  add: DeliveryJobSpec[],
  notes: string[],
) {
  if (!ctx.queues) {
    if (add.length > 0) notes.push('no queue connection: the worker enqueues the new jobs when it starts');
    return;
  }
  try {
    await ctx.queues.removeMany(remove);
    await ctx.queues.enqueueMany(add);
  } catch (err) {
    // The store holds the change; the worker's reconciler enqueues what Redis is missing.
    ctx.logger?.warn({ err: (err as Error).message }, 'post change stored; its jobs wait for the reconciler');
    notes.push('the job queue did not answer: the worker enqueues the change when it next reconciles');
  }
}

/**
 * Rewrites an ordinary post not yet sent: text, variants, networks, language, time, images. A post
 * still awaiting approval keeps waiting (and its editor cannot approve it); an approved one is
 * refused when the plan wants a second person, since the edit would go out unapproved.
 */
export async function editPost(
  ctx: PostsContext,
  input: PostChangeInput & { edit: PostEdit },
): Promise<PostChangeResult> {
  const settings = await ctx.settings.get(input.organisationId);
  const post = await ordinaryPost(ctx, input.organisationId, input.postId);
  const content = storedContentOf(post);
  if (content.cancelled)
    throw new ConflictError(`post ${post.id} was cancelled; send a new one`, 'cancelled');
  const { edit } = input;
  const now = new Date();
  const notes: string[] = [];
  const at = dueTimeOf(edit.at ?? new Date(content.at), now, notes, edit.at !== undefined);
  const text = edit.text ?? content.text;
  const variants = edit.variants ?? content.variants;
  const language = edit.language ?? content.language;
  // A new time without networks takes the plan's mirror for that time (before or after the sunset).
  const networks = edit.networks ?? (edit.at ? undefined : content.networks);
  const request = {
    organisationId: input.organisationId,
    source: 'ordinary' as const,
    text,
    ...(variants ? { variants } : {}),
    ...(networks ? { networks } : {}),
    language,
    at,
    // Kept images were checked when they were sent; only new ones are checked again.
    images: edit.images ?? [],
  };
  const targets = checkRequest(request, settings);
  const route = await routePost(ctx.store, settings, request, targets, at, now, notes);
  const editor = actorOf(input.actor, input.person);
  const images = edit.images?.map((im) => ({ ...im, sha256: sha256(im.data) }));
  const next: StoredContent = {
    ...content,
    text,
    ...(variants ? { variants } : {}),
    images: images
      ? images.map((im) => ({ sha256: im.sha256, mediaType: im.mediaType, alt: im.alt }))
      : content.images,
    language,
    networks: route.targets,
    at: at.toISOString(),
    editedBy: [...(content.editedBy ?? []).filter((e) => e.person !== editor.person), editor],
  };
  if (!edit.variants && !content.variants) delete next.variants;
  const auditOf = (details: Record<string, unknown>) => ({
    organisationId: input.organisationId,
    actor: input.actor,
    action: 'post.edited',
    postId: post.id,
    ...(input.requestId ? { requestId: input.requestId } : {}),
    outcome: 'ok' as const,
    before: {
      text: content.text,
      variants: content.variants ?? {},
      networks: content.networks,
      at: content.at,
    },
    after: { text: next.text, variants: next.variants ?? {}, networks: next.networks, at: next.at },
    details: { ...details, person: editor.person, ...(notes.length ? { notes } : {}) },
  });
  const blobs = (images ?? []).map((im) => ({ sha256: im.sha256, mediaType: im.mediaType, data: im.data }));

  if (content.awaitingApproval) {
    // Nothing is queued yet: the new content is what the approver will see.
    await ctx.store.transaction(async (tx) => {
      for (const b of blobs) await tx.blobs.put(b);
      await tx.posts.setContent(post.organisationId, post.id, next);
      await tx.audit.append(auditOf({ awaitingApproval: true }));
    });
    return { postId: post.id, changes: [], notes };
  }
  if (route.awaitingApproval) {
    throw new ConflictError(
      `post ${post.id} was approved by a second person; an edit would go out without their approval: cancel it and send a new post`,
      'approved',
    );
  }
  if (!ctx.queues || !ctx.queues.ready()) {
    throw new NotAcceptedError('the edit was not accepted: the job queue (Redis) is not answering');
  }
  const wanted = deliveriesFor(settings, { id: post.id, source: 'ordinary' }, next, route.targets);
  const existing = await ctx.store.deliveries.listHeads({
    organisationId: input.organisationId,
    postId: post.id,
  });
  const byId = new Map(existing.map((d) => [d.id, d]));
  const parts = await startedParts(ctx.store, existing);
  const refusals: string[] = [];
  const replace: { current: DeliveryHead; wanted: (typeof wanted)[number] }[] = [];
  const add: typeof wanted = [];
  for (const w of wanted) {
    const current = byId.get(w.id);
    if (!current) {
      add.push(w);
      continue;
    }
    const refusal =
      statusRefusal(current) ??
      tooLateForThread(current, w.parts, parts.get(current.id))?.replace(
        /^/,
        `${NETWORK_LABELS[current.network]}: `,
      );
    if (refusal) refusals.push(refusal);
    else replace.push({ current, wanted: w });
  }
  const wantedIds = new Set(wanted.map((w) => w.id));
  const cancel = existing.filter((d) => !wantedIds.has(d.id) && d.status !== 'cancelled');
  for (const d of cancel) {
    const refusal =
      d.status === 'queued' && !started(d)
        ? undefined
        : started(d)
          ? `${NETWORK_LABELS[d.network]}: its thread has begun; it cannot be withdrawn`
          : statusRefusal(d);
    if (refusal) refusals.push(refusal);
  }
  if (refusals.length > 0) {
    // Nothing is changed: the reader sees the post as it began, or the whole edit.
    throw new ConflictError(`post ${post.id} cannot be changed now: ${refusals.join('; ')}`, 'too-late');
  }
  const toEnqueue: DeliveryJobSpec[] = [];
  const toRemove: { network: Network; jobId: string; lane: Lane }[] = [];
  const changes: PostChangeResult['changes'] = [];
  await ctx.store.transaction(async (tx) => {
    for (const b of blobs) await tx.blobs.put(b);
    const replacements = replace.map(({ current, wanted: w }) => ({
      id: current.id,
      expected: current.status,
      change: {
        dueAt: w.dueAt,
        priority: w.priority,
        contentHash: w.contentHash,
        parts: w.parts,
        jobId: nextJobId(current.jobId),
        planVersion: settings.version,
      },
    }));
    const replaced = new Set(await tx.deliveries.replaceMany(replacements));
    const cancelled = new Set(await tx.deliveries.cancelMany(cancel.map((d) => d.id)));
    const lost = [
      ...replacements.filter((r) => !replaced.has(r.id)).map((r) => r.id),
      ...cancel.filter((d) => !cancelled.has(d.id)).map((d) => d.id),
    ];
    if (lost.length > 0) {
      // Thrown inside the transaction: what was written above is rolled back with it.
      throw new ConflictError(
        `post ${post.id} cannot be changed now: a worker took ${lost.map((id) => NETWORK_LABELS[byId.get(id)!.network]).join(', ')} meanwhile`,
        'too-late',
      );
    }
    const inserted = await tx.deliveries.insertMany(add.map((w) => ({ ...w, jobId: jobIdFor(w.id) })));
    await tx.posts.setContent(post.organisationId, post.id, next);
    for (const { current } of replace) {
      const r = replacements.find((x) => x.id === current.id)!;
      toRemove.push({ network: current.network, jobId: current.jobId, lane: laneOf(current.priority) });
      toEnqueue.push({
        id: current.id,
        organisationId: current.organisationId,
        network: current.network,
        dueAt: r.change.dueAt,
        priority: r.change.priority,
        jobId: r.change.jobId,
      });
      changes.push({ network: current.network, deliveryId: current.id, change: 'replaced' });
    }
    for (const d of inserted) {
      toEnqueue.push(d);
      changes.push({ network: d.network, deliveryId: d.id, change: 'added' });
    }
    for (const d of cancel) {
      toRemove.push({ network: d.network, jobId: d.jobId, lane: laneOf(d.priority) });
      changes.push({ network: d.network, deliveryId: d.id, change: 'cancelled' });
    }
    await tx.audit.append(auditOf({ changes }));
  });
  await moveJobs(ctx, toRemove, toEnqueue, notes);
  return { postId: post.id, changes, notes };
}

/**
 * Withdraws an ordinary post before it goes out: every waiting delivery is cancelled, or none is
 * when one of them is being sent or has parts on its network (said network by network).
 */
export async function cancelPost(ctx: PostsContext, input: PostChangeInput): Promise<PostChangeResult> {
  const post = await ordinaryPost(ctx, input.organisationId, input.postId);
  const content = storedContentOf(post);
  if (content.cancelled) return { postId: post.id, changes: [], notes: ['already cancelled'] };
  const existing = await ctx.store.deliveries.listHeads({
    organisationId: input.organisationId,
    postId: post.id,
  });
  const refusals = existing.flatMap((d) => {
    if (d.status === 'queued' && !started(d)) return [];
    if (started(d)) return [`${NETWORK_LABELS[d.network]}: its thread has begun; it cannot be withdrawn`];
    if (d.status === 'sending' || d.status === 'published') return [statusRefusal(d)!];
    return [];
  });
  if (refusals.length > 0) {
    throw new ConflictError(`post ${post.id} cannot be cancelled: ${refusals.join('; ')}`, 'too-late');
  }
  const cancel = existing.filter((d) => d.status === 'queued');
  const person = actorOf(input.actor, input.person);
  await ctx.store.transaction(async (tx) => {
    const cancelled = new Set(await tx.deliveries.cancelMany(cancel.map((d) => d.id)));
    const lost = cancel.filter((d) => !cancelled.has(d.id));
    if (lost.length > 0) {
      throw new ConflictError(
        `post ${post.id} cannot be cancelled: a worker took ${lost.map((d) => NETWORK_LABELS[d.network]).join(', ')} meanwhile`,
        'too-late',
      );
    }
    await tx.posts.setContent(post.organisationId, post.id, {
      ...content,
      awaitingApproval: false,
      cancelled: { by: person, at: new Date().toISOString() },
    } satisfies StoredContent);
    await tx.audit.append({
      organisationId: input.organisationId,
      actor: input.actor,
      action: 'post.cancelled',
      postId: post.id,
      ...(input.requestId ? { requestId: input.requestId } : {}),
      outcome: 'ok',
      before: { awaitingApproval: content.awaitingApproval ?? false, networks: content.networks },
      details: { cancelled: cancel.map((d) => d.id), person: person.person },
    });
  });
  const notes: string[] = [];
  await moveJobs(
    ctx,
    cancel.map((d) => ({ network: d.network, jobId: d.jobId, lane: laneOf(d.priority) })),
    [],
    notes,
  );
  return {
    postId: post.id,
    changes: cancel.map((d) => ({ network: d.network, deliveryId: d.id, change: 'cancelled' as const })),
    notes,
  };
}

/** The statuses a person may retry: the worker gave up, or wants someone to act first. */
const RETRIED: readonly DeliveryStatus[] = ['failed', 'needs-attention'];

/**
 * Queues a failed or needs-attention delivery again under a new job (fresh attempts), from the part
 * it had reached. Not one held for X credits (resume X instead), nor one of a cancelled post.
 */
export async function retryDelivery(
  ctx: PostsContext,
  input: { organisationId: string; deliveryId: string; actor: string; person?: string; requestId?: string },
  delivery?: Delivery,
): Promise<{ delivery: Delivery; jobId: string; notes: string[] }> {
  const d = delivery ?? (await ctx.store.deliveries.get(input.deliveryId));
  if (!d || d.organisationId !== input.organisationId)
    throw new NotFoundError(`there is no delivery ${input.deliveryId}`);
  if (!RETRIED.includes(d.status)) {
    throw new ConflictError(
      `delivery ${d.id} is ${d.status}: only a failed or needs-attention delivery is retried`,
      'not-retryable',
    );
  }
  const held = (await ctx.store.xSpend.holds(input.organisationId)).some((h) => h.deliveryId === d.id);
  if (held || d.lastError?.startsWith(CREDITS_EXHAUSTED_REASON)) {
    throw new ConflictError(
      'held while X is paused for lack of credits: resume X (POST /v1/networks/x/resume) and it goes on by itself',
      'x-paused',
    );
  }
  if (d.postId && d.source !== 'plan') {
    const post = await ctx.store.posts.get(d.organisationId, d.postId);
    if (post && storedContentOf(post).cancelled)
      throw new ConflictError(`post ${post.id} was cancelled: its deliveries are not retried`, 'cancelled');
  }
  if (!ctx.queues || !ctx.queues.ready()) {
    throw new NotAcceptedError('the retry was not accepted: the job queue (Redis) is not answering');
  }
  const jobId = nextJobId(d.jobId);
  const person = actorOf(input.actor, input.person);
  await ctx.store.transaction(async (tx) => {
    const now = await tx.deliveries.get(d.id);
    if (!now || now.status !== d.status || now.jobId !== d.jobId) {
      throw new ConflictError(`delivery ${d.id} changed meanwhile: read it again`, 'changed');
    }
    await tx.deliveries.setJob(d.id, jobId, 'queued');
    await tx.audit.append({
      organisationId: d.organisationId,
      actor: input.actor,
      action: 'delivery.retried',
      network: d.network,
      deliveryId: d.id,
      ...(d.postId ? { postId: d.postId } : {}),
      ...(input.requestId ? { requestId: input.requestId } : {}),
      jobId,
      outcome: 'ok',
      before: { status: d.status, ...(d.lastError ? { lastError: d.lastError } : {}) },
      after: { status: 'queued' },
      details: { person: person.person, attempts: d.attempts },
    });
  });
  const notes: string[] = [];
  await moveJobs(
    ctx,
    [],
    [
      {
        id: d.id,
        organisationId: d.organisationId,
        network: d.network,
        // A post whose time has passed goes now.
        dueAt: new Date(Math.max(Date.now(), d.dueAt.getTime())),
        priority: d.priority,
        jobId,
      },
    ],
    notes,
  );
  return { delivery: d, jobId, notes };
}

/**
 * Sending one delivery. The store says what is left to do: parts already published are
 * skipped, so a retry (or a restart after a crash) resumes a thread after its last landed part.
 * Before a part is posted to X it is marked "outcome unknown" (the first one by the claim itself
 * on PostgreSQL, see ClaimedDelivery.markedPart); the mark is cleared when the result is
 * recorded, or when the attempt stops before sending. A mark found at the start of an attempt
 * means the previous attempt died mid-post (or between its claim and the send), and X is searched
 * for the text before anything is posted again. Bluesky and Mastodon
 * parts carry no mark: every attempt sends the part's idempotency key (Mastodon's
 * Idempotency-Key, Bluesky's record key), so an attempt after a lost one gets the existing post.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { lazyChild, SunsetError, type Logger, type Network } from '@sunset/core';
import {
  CreditsExhaustedError,
  DailyCapError,
  DuplicateError,
  ForbiddenError,
  type Connector,
  type NetworkRead,
  type PostImage,
  type RemoteRef,
} from '@sunset/networks';
import type { DeliverJobData } from '@sunset/queue';
import {
  LeaseLostError,
  type ClaimedDelivery,
  type Delivery,
  type DeliveryPart,
  type LeaseRequest,
  type Store,
} from '@sunset/store';
import { costOf, xHasUrl } from '@sunset/text';
import { isPlanUnusable, type OrgSettings } from '../outbox/org-settings.ts';
import { policyRefusal } from '../outbox/policy.ts';
import {
  CREDITS_EXHAUSTED_REASON,
  pauseX,
  resumeX,
  xOrdinaryRefusal,
  xPauseOf,
  XHeldUntilError,
} from '../outbox/x-economy.ts';
import { syncAudience } from './audience.ts';
import { applyDormantProfile } from './profile.ts';
import { remoteRefOf } from './remote-ref.ts';
import { finishWithAudit, type JobInfo, type ProcessContext, type ProcessResult } from './job.ts';

/** How far the clocks of this deployment's processes (API, workers, store) may differ. */
const CLOCK_MARGIN_MS = 5_000;

/** How stale the worker's view of an organisation's latest plan may be (see OrgSettingsCache.get). */
const SETTINGS_MAX_AGE_MS = 2_000;

/** Mastodon's Idempotency-Key and Bluesky's record key come from this: stable per part, ≤ 64 characters. */
export function idempotencyKey(deliveryId: string, part: number): string {
  const key = `${deliveryId}.${part}`;
  if (key.length <= 64 && /^[A-Za-z0-9._-]+$/.test(key)) return key;
  return `k${createHash('sha256').update(deliveryId).digest('hex').slice(0, 40)}.${part}`;
}

async function loadImages(store: Store, part: DeliveryPart): Promise<PostImage[]> {
  const images: PostImage[] = [];
  for (const im of part.images) {
    const blob = await store.blobs.get(im.sha256);
    if (!blob) throw new Error(`image ${im.sha256.slice(0, 12)}… is missing from the store`);
    images.push({ data: blob.data, mediaType: im.mediaType, alt: im.alt });
  }
  return images;
}

/** The post a crisis follow-up answers: the last landed part of the original on this network. */
async function replyTargetOf(store: Store, delivery: ClaimedDelivery): Promise<RemoteRef | undefined> {
  // Only API posts follow up other posts (crisis updates); a plan's threads chain their own parts.
  // The claim brought the answered post's id along.
  const original = delivery.replyToPostId;
  if (!original || delivery.source === 'plan') return undefined;
  const originals = await store.deliveries.list({
    organisationId: delivery.organisationId,
    postId: original,
    network: delivery.network,
  });
  // An update sent while its original is still on its way waits for it (retried with backoff),
  // so that it lands under the original instead of beside it.
  if (originals.some((d) => d.status === 'queued' || d.status === 'sending')) {
    throw new WaitingForOriginalError(
      `waiting for the original post ${original} to be published on ${delivery.network} first`,
    );
  }
  const landed = originals.flatMap((d) =>
    d.parts.filter((p) => p.remoteRef !== undefined).map((part) => ({ deliveryId: d.id, part })),
  );
  const last = landed[landed.length - 1];
  return last ? remoteRefOf(last.deliveryId, last.part) : undefined;
}

/**
 * Another claim's lease on the delivery still holds (a worker is sending it, or was until it
 * stopped renewing): this job waits until `until` and tries again, without spending an attempt.
 */
export class LeaseHeldError extends SunsetError {
  readonly until: Date;
  constructor(deliveryId: string, until: Date) {
    super(
      'engine.lease-held',
      `delivery ${deliveryId} is held by another worker until ${until.toISOString()}`,
    );
    this.until = until;
  }
}

/** The lease a context without one asks for: this process, 30 s. */
const DEFAULT_LEASE: LeaseRequest = { owner: `${os.hostname()}:${process.pid}`, ttlMs: 30_000 };

/**
 * Keeps the attempt's lease alive while it runs (renewed every third of its length, so that a
 * live holder never loses it to a slow statement), and remembers when a renewal found it taken over.
 */
function keepLease(store: Store, delivery: ClaimedDelivery, ttlMs: number, log: Logger) {
  let lost = false;
  const timer = setInterval(
    () => {
      store.deliveries
        .renewLease(delivery.id, delivery.lease.epoch, ttlMs)
        .then((held) => {
          if (!held) lost = true;
        })
        .catch((err: unknown) =>
          log.warn({ deliveryId: delivery.id, err: (err as Error).message }, 'could not renew a lease'),
        );
    },
    Math.max(100, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    stop: () => clearInterval(timer),
  };
}

/** Retryable: a follow-up's original has not landed yet. */
export class WaitingForOriginalError extends SunsetError {
  constructor(message: string) {
    super('engine.waiting-for-original', message);
  }
}

/**
 * Why a crisis delivery of a CAP alert is not sent any more: its <expires> has passed while it
 * waited (retries, a network's outage, a full queue). Sent late, it would tell the public of a
 * danger its own sender says is over.
 */
function capExpiredReason(payload: unknown, nowMs: number): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const expires = (payload as { capExpires?: unknown }).capExpires;
  if (typeof expires !== 'string') return undefined;
  const at = Date.parse(expires);
  if (Number.isNaN(at) || at > nowMs) return undefined;
  return `the CAP alert expired at ${expires} before this was posted: not posted`;
}

/**
 * A delivery the sunset policy refuses, or whose CAP alert expired: skipped, the reason in the
 * audit log with the parts already out.
 */
async function skippedFor(
  ctx: ProcessContext,
  delivery: Delivery,
  job: JobInfo,
  log: Logger,
  refusal: string,
  what = 'skipped by the sunset policy',
): Promise<ProcessResult> {
  const landed = delivery.parts.filter((p) => p.remoteId !== undefined).length;
  const reason =
    landed > 0 ? `${refusal} (${landed} of ${delivery.parts.length} parts were published before)` : refusal;
  log.info({ reason }, what);
  return {
    status: 'skipped',
    delivery: await finishWithAudit(ctx.store, delivery, 'skipped', job, { reason }),
  };
}

async function publishParts(
  ctx: ProcessContext,
  delivery: ClaimedDelivery,
  settings: OrgSettings,
  connector: Connector,
  job: JobInfo,
  log: Logger,
): Promise<ProcessResult> {
  const { store } = ctx;
  const epoch = delivery.lease.epoch;
  const ttlMs = (ctx.lease ?? DEFAULT_LEASE).ttlMs;
  let previous: RemoteRef | undefined = await replyTargetOf(store, delivery);
  for (const part of delivery.parts) {
    if (part.remoteId !== undefined) {
      previous = remoteRefOf(delivery.id, part) ?? {
        remoteId: part.remoteId,
        url: part.url ?? '',
      };
      continue;
    }
    if (unknownOnX(delivery, part)) {
      const settled = await settleUnknownX(ctx, connector, delivery, part, previous, job, log);
      if ('attention' in settled) return settled.attention;
      if (settled.found) {
        previous = settled.found;
        continue;
      }
    }
    if (delivery.network === 'x') {
      // The claim may have marked this part already (PostgreSQL): no statement of its own then.
      if (delivery.markedPart !== part.part) {
        await store.deliveries.partOutcomeUnknown(delivery.id, part.part, true, epoch);
      }
      part.outcomeUnknown = true;
      // The store dropped the text a re-apply kept: X was searched for it, this text goes now.
      delete part.unknownText;
      delete part.unknownSince;
    }
    const images = await loadImages(store, part);
    let published: RemoteRef;
    // Only the current holder sends the next part. X has no idempotency key: its lease is checked
    // (and extended) in the store just before the post, so a holder paused past its lease, whose
    // delivery another worker has taken, never posts; elsewhere the key makes a repeat harmless.
    if (delivery.network === 'x') {
      // The renewal also reads the store's clock: one statement (batched with other jobs') for both.
      const now = await store.deliveries.renewLeaseForSend(delivery.id, epoch, ttlMs);
      if (!now) throw new LeaseLostError(delivery.id, epoch);
      // The sunset policy at the instant this part leaves, by the store's clock (policy.ts).
      const refusal = policyRefusal(delivery, settings, now);
      if (refusal) {
        // Nothing reached X: this attempt's own mark goes (the claim's is taken back by processDelivery).
        if (delivery.markedPart !== part.part)
          await store.deliveries.partOutcomeUnknown(delivery.id, part.part, false, epoch);
        part.outcomeUnknown = false;
        return skippedFor(ctx, delivery, job, log, refusal);
      }
      // Crisis posts are never held back: they go while credits last.
      if (delivery.source !== 'crisis') {
        const held = await xOrdinaryRefusal(
          store,
          delivery.organisationId,
          settings.document.networks.x,
          { costMicros: costOf({ kind: 'create', text: part.text }, ctx.xPrices), reply: !!previous },
          now,
        ).catch(async (err: unknown) => {
          if (delivery.markedPart !== part.part)
            await store.deliveries.partOutcomeUnknown(delivery.id, part.part, false, epoch);
          part.outcomeUnknown = false;
          if (err instanceof XHeldUntilError) await waitingForCap(ctx, delivery, job, err);
          throw err;
        });
        if (held) {
          if (delivery.markedPart !== part.part)
            await store.deliveries.partOutcomeUnknown(delivery.id, part.part, false, epoch);
          part.outcomeUnknown = false;
          return holdX(ctx, delivery, job, log, held);
        }
      }
    } else if (job.leaseLost?.()) {
      throw new LeaseLostError(delivery.id, epoch);
    }
    // Checked at the last moment: the store writes above may have waited on a lock meanwhile.
    ctx.gate?.(delivery.network);
    // From here on the part may reach X: its mark stays, whatever happens next.
    if (delivery.markedPart === part.part) delete delivery.markedPart;
    try {
      published = await connector.publish(
        { text: part.text, ...(images.length ? { images } : {}), language: part.language },
        {
          idempotencyKey: idempotencyKey(delivery.id, part.part),
          ...(previous ? { replyTo: previous } : {}),
        },
      );
    } catch (err) {
      if (err instanceof CreditsExhaustedError || err instanceof DailyCapError) {
        // X refused before creating anything: the part's mark goes, no search is owed.
        await store.deliveries.partOutcomeUnknown(delivery.id, part.part, false, epoch);
        part.outcomeUnknown = false;
        return xRefused(ctx, delivery, job, log, err);
      }
      // X refuses a repeated text: an attempt before this one landed. Find it instead.
      if (err instanceof DuplicateError && delivery.network === 'x') {
        const found = await reconcileX(ctx, connector, delivery, part, previous, log);
        if (found && found !== 'unknowable') {
          published = found;
        } else {
          throw err;
        }
      } else {
        throw err;
      }
    }
    const ref: RemoteRef = {
      remoteId: published.remoteId,
      url: published.url,
      ...(published.bluesky ? { bluesky: published.bluesky } : {}),
    };
    log.info({ part: part.part, remoteId: ref.remoteId, url: ref.url }, 'part published');
    if (delivery.network === 'x') await xPublished(ctx, delivery, part.text, !!previous, log);
    previous = ref;
    const landed = { part: part.part, remoteId: ref.remoteId, url: ref.url, remoteRef: ref };
    if (part.part === delivery.parts.at(-1)?.part) {
      // The last part: its record, the final status and the audit entry in one transaction.
      return {
        status: 'published',
        delivery: await finishWithAudit(store, delivery, 'published', job, { landed }),
      };
    }
    await recordLanded(store, delivery, part.part, landed);
    recorded(delivery, part, ref);
  }
  // Every part had landed before this attempt (a crash between the last part and the final status).
  return { status: 'published', delivery: await finishWithAudit(store, delivery, 'published', job) };
}

/** An ordinary X delivery held for a person (X paused, or the budget's reserve): audited, resumable. */
async function holdX(
  ctx: ProcessContext,
  delivery: Delivery,
  job: JobInfo,
  log: Logger,
  reason: string,
): Promise<ProcessResult> {
  log.warn({ reason }, 'ordinary X post held');
  await ctx.store.xSpend.hold(delivery.organisationId, delivery.id, reason);
  return {
    status: 'needs-attention',
    delivery: await finishWithAudit(ctx.store, delivery, 'needs-attention', job, {
      reason,
      checklist: [
        'Buy X credits or raise networks.x.budget in the plan if needed.',
        `Then run "sunset networks resume x ${delivery.organisationId}" (or POST /v1/networks/x/resume): held X posts go again.`,
      ],
    }),
  };
}

/**
 * X refused for lack of credits (ordinary X posts pause for the organisation until resumed) or
 * because the account's daily cap is reached (ordinary posts wait for its reset). A crisis
 * delivery ends needs-attention saying so; the crisis's other networks carry it meanwhile.
 */
async function xRefused(
  ctx: ProcessContext,
  delivery: Delivery,
  job: JobInfo,
  log: Logger,
  err: CreditsExhaustedError | DailyCapError,
): Promise<ProcessResult> {
  const crisis = delivery.source === 'crisis';
  if (err instanceof DailyCapError) {
    const until = err.resetAt ?? new Date(Date.now() + 3600_000);
    if (!crisis) {
      const held = new XHeldUntilError(`${err.message}; waiting for the reset`, until);
      await waitingForCap(ctx, delivery, job, held);
      throw held;
    }
    return {
      status: 'needs-attention',
      delivery: await finishWithAudit(ctx.store, delivery, 'needs-attention', job, {
        reason: `X daily cap reached until ${until.toISOString()}: X refused this crisis post`,
        checklist: ['Post it on X by hand from a verified account, or after the reset.'],
      }),
    };
  }
  if (!(await xPauseOf(ctx.store, delivery.organisationId))) {
    await pauseX(ctx.store, delivery.organisationId, CREDITS_EXHAUSTED_REASON);
    await ctx.store.audit.append({
      organisationId: delivery.organisationId,
      actor: 'system',
      action: 'x.paused',
      network: 'x',
      deliveryId: delivery.id,
      outcome: 'error',
      error: err.message,
      details: { reason: CREDITS_EXHAUSTED_REASON },
    });
    await ctx.notify?.({
      organisationId: delivery.organisationId,
      event: 'x.paused',
      deliveryId: delivery.id,
      key: `${delivery.id}.${Date.now()}`,
    });
  }
  log.error({ crisis }, 'X credits exhausted: ordinary X posts paused');
  if (!crisis) return holdX(ctx, delivery, job, log, CREDITS_EXHAUSTED_REASON);
  return {
    status: 'needs-attention',
    delivery: await finishWithAudit(ctx.store, delivery, 'needs-attention', job, {
      reason: `${CREDITS_EXHAUSTED_REASON}; X refused this crisis post`,
      checklist: ["Buy credits in X's developer console, then post this crisis on X by hand."],
    }),
  };
}

/** Back to queued, audited: the job itself waits for the cap's window (runtime.ts). */
async function waitingForCap(
  ctx: ProcessContext,
  delivery: Delivery,
  job: JobInfo,
  held: XHeldUntilError,
): Promise<void> {
  if (job.lease) await ctx.store.deliveries.retryLater(delivery.id, held.message, job.lease.epoch);
  await ctx.store.audit.append({
    organisationId: delivery.organisationId,
    actor: 'system',
    action: 'delivery.held',
    network: 'x',
    deliveryId: delivery.id,
    ...(delivery.postId ? { postId: delivery.postId } : {}),
    jobId: job.id,
    outcome: 'skipped',
    details: { reason: held.message, until: held.until.toISOString() },
  });
}

/** What a landed X part cost, counted; a crisis that got through while X was paused resumes it. */
async function xPublished(
  ctx: ProcessContext,
  delivery: Delivery,
  text: string,
  reply: boolean,
  log: Logger,
): Promise<void> {
  const crisis = delivery.source === 'crisis';
  const url = xHasUrl(text);
  await ctx.store.xSpend.record({
    organisationId: delivery.organisationId,
    kind: reply ? (url ? 'create_reply_with_url' : 'create_reply') : url ? 'create_with_url' : 'create',
    count: 1,
    costMicros: costOf({ kind: 'create', text }, ctx.xPrices),
    crisis,
    deliveryId: delivery.id,
  });
  if (crisis && ctx.queues && (await xPauseOf(ctx.store, delivery.organisationId))) {
    const result = await resumeX({
      store: ctx.store,
      queues: ctx.queues,
      organisationId: delivery.organisationId,
      actor: 'system',
      reason: 'a crisis post reached X: credits are back',
    });
    log.info(result, 'X resumed after a crisis post got through');
  }
}

/** The job's copy of the delivery after a part was recorded as landed, as the store now has it. */
function recorded(delivery: Delivery, part: DeliveryPart, ref: RemoteRef): void {
  part.remoteId = ref.remoteId;
  part.url = ref.url;
  part.remoteRef = JSON.parse(JSON.stringify(ref)) as unknown;
  part.publishedAt = new Date();
  part.outcomeUnknown = false;
  if (part.part === 1) {
    delivery.remoteId = ref.remoteId;
    delivery.url = ref.url;
  }
}

/**
 * The account's newest X post known to be older than the part looked for: the search after an
 * unknown outcome reads only what came after it. The part before in the thread (or the post a
 * follow-up answers) when there is one, else the newest X post of this organisation recorded as
 * landed before `before` (when the part could first have been sent).
 */
async function knownBefore(
  store: Store,
  delivery: Delivery,
  previous: RemoteRef | undefined,
  before: Date,
): Promise<string | undefined> {
  if (previous) return previous.remoteId;
  // Nothing is sent before it is due: what landed before `before` was due before it.
  const earlier = await store.deliveries.list({
    organisationId: delivery.organisationId,
    network: 'x',
    dueBefore: before,
  });
  let newest: bigint | undefined;
  for (const d of earlier) {
    for (const p of d.parts) {
      if (p.remoteId === undefined || !p.publishedAt || p.publishedAt >= before || !/^\d+$/.test(p.remoteId))
        continue;
      const id = BigInt(p.remoteId);
      if (newest === undefined || id > newest) newest = id;
    }
  }
  return newest?.toString();
}

/** A landed part recorded under a lease taken over since changes nothing: this holder stops. */
async function recordLanded(
  store: Store,
  delivery: ClaimedDelivery,
  part: number,
  ref: { remoteId: string; url: string; remoteRef?: unknown },
): Promise<void> {
  if (!(await store.deliveries.partPublished(delivery.id, part, ref, delivery.lease.epoch))) {
    throw new LeaseLostError(delivery.id, delivery.lease.epoch);
  }
}

/** A mark this attempt's claim did not set: an earlier attempt may have posted the part on X. */
function unknownOnX(delivery: ClaimedDelivery, part: DeliveryPart): boolean {
  return part.outcomeUnknown === true && delivery.network === 'x' && delivery.markedPart !== part.part;
}

/**
 * X searched for a part an earlier attempt may have posted. A part found is recorded as landed
 * and counted (that attempt created it, X billed it); where X will not say, the delivery stops
 * for a person. `expired` words that stop for a CAP alert that expired meanwhile.
 */
async function settleUnknownX(
  ctx: ProcessContext,
  connector: Connector,
  delivery: ClaimedDelivery,
  part: DeliveryPart,
  previous: RemoteRef | undefined,
  job: JobInfo,
  log: Logger,
  expired?: string,
): Promise<{ found?: RemoteRef } | { attention: ProcessResult }> {
  const found = await reconcileX(ctx, connector, delivery, part, previous, log);
  if (found === 'unknowable') {
    const unread =
      'an earlier attempt may have posted this on X, and X does not let this account read its posts';
    const look = `Open the X account and look for this post (part ${part.part} of ${delivery.parts.length}): "${part.unknownText ?? part.text}"`;
    return {
      attention: {
        status: 'needs-attention',
        delivery: await finishWithAudit(ctx.store, delivery, 'needs-attention', job, {
          reason: expired ? `${expired}; but ${unread}` : unread,
          checklist: expired
            ? [
                look,
                'If it is there, delete it or answer it with the end of the alert; nothing more is sent.',
              ]
            : [
                look,
                'If it is there, nothing more is needed; if not, post it by hand or apply the plan again with a new post id.',
              ],
        }),
      },
    };
  }
  if (!found) return {};
  await recordLanded(ctx.store, delivery, part.part, { ...found, remoteRef: found });
  if (part.unknownText !== undefined) part.text = part.unknownText;
  recorded(delivery, part, found);
  await xPublished(ctx, delivery, part.text, !!previous, log);
  return { found };
}

/**
 * A CAP crisis delivery whose alert expired while it waited: nothing more is sent. A part an
 * earlier attempt may have posted on X is looked for first, so that the record says what is
 * there; if that was the last part, the delivery was published after all.
 */
async function skippedExpired(
  ctx: ProcessContext,
  delivery: ClaimedDelivery,
  settings: OrgSettings,
  job: JobInfo,
  log: Logger,
  expired: string,
): Promise<ProcessResult> {
  const open = delivery.parts.find((p) => p.remoteId === undefined);
  if (open && unknownOnX(delivery, open)) {
    const connector = await ctx.connectors.get(settings, delivery.network);
    const before = delivery.parts.filter((p) => p.remoteId !== undefined).at(-1);
    // The search reads only what came after the post before it; without one, the store's newest.
    const previous = before
      ? remoteRefOf(delivery.id, before)
      : await replyTargetOf(ctx.store, delivery).catch(() => undefined);
    const settled = await settleUnknownX(ctx, connector, delivery, open, previous, job, log, expired);
    if ('attention' in settled) return settled.attention;
  }
  if (delivery.parts.every((p) => p.remoteId !== undefined)) {
    return { status: 'published', delivery: await finishWithAudit(ctx.store, delivery, 'published', job) };
  }
  return skippedFor(ctx, delivery, job, log, expired, 'CAP alert expired before it was posted');
}

/** X after an unknown outcome: the post if it landed, undefined if it did not, 'unknowable' if X will not say. */
async function reconcileX(
  ctx: ProcessContext,
  connector: Connector,
  delivery: Delivery,
  part: DeliveryPart,
  previous: RemoteRef | undefined,
  log: Logger,
): Promise<RemoteRef | undefined | 'unknowable'> {
  if (!connector.findRecent) return 'unknowable';
  // What the search reads, counted as X bills it (in x_usage, with the month's spend).
  const reads: NetworkRead[] = [];
  try {
    // After a re-apply, the text that attempt sent and its time (see DeliveryPart.unknownText).
    const attempted = Math.min(
      delivery.dueAt.getTime(),
      delivery.updatedAt.getTime(),
      part.unknownSince?.getTime() ?? Infinity,
    );
    // X's clock may differ from ours by minutes; the store's times are this deployment's own.
    const since = new Date(attempted - 60 * 60_000);
    const sinceId = await knownBefore(ctx.store, delivery, previous, new Date(attempted - CLOCK_MARGIN_MS));
    const found = await connector.findRecent(part.unknownText ?? part.text, {
      since,
      ...(sinceId ? { sinceId } : {}),
      onRead: (read) => reads.push(read),
    });
    log.info(
      { part: part.part, found: found?.remoteId, sinceId, reads },
      'X searched after an unknown outcome',
    );
    return found;
  } catch (err) {
    if (err instanceof ForbiddenError) return 'unknowable';
    throw err;
  } finally {
    for (const read of reads) {
      await ctx.store.xSpend.record({
        organisationId: delivery.organisationId,
        kind: read.kind,
        count: read.count,
        costMicros: costOf({ kind: read.kind, count: read.count }, ctx.xPrices),
        crisis: delivery.source === 'crisis',
        deliveryId: delivery.id,
      });
    }
  }
}

/**
 * Loads ahead what a delivery of this organisation on this network will need (its settings, its
 * connector), for a job taken before its due time: on that time it posts at once. An error here
 * is left for the attempt itself, which meets it again and records it.
 */
export async function prepareDelivery(
  ctx: ProcessContext,
  organisationId: string,
  network: Network,
): Promise<void> {
  try {
    const settings = await ctx.settings.get(organisationId, SETTINGS_MAX_AGE_MS);
    await ctx.connectors.get(settings, network);
  } catch (err) {
    ctx.logger.debug(
      { organisationId, network, err: (err as Error).message },
      'could not prepare a delivery ahead',
    );
  }
}

/**
 * Runs one deliver job. Network errors are thrown to the caller (the worker maps them to
 * BullMQ); everything the store must remember is written before they are.
 */
export async function processDelivery(
  ctx: ProcessContext,
  data: DeliverJobData,
  job: JobInfo,
): Promise<ProcessResult> {
  const { store } = ctx;
  const lease = ctx.lease ?? DEFAULT_LEASE;
  const delivery = await store.deliveries.claim(data.deliveryId, job.id, lease);
  if (!delivery) {
    // Refused: the job is stale, the delivery final, or another claim's lease still holds (a
    // worker sending it, or one that stopped and whose lease has not run out yet).
    const state = await store.deliveries.leaseOf(data.deliveryId);
    if (
      state?.lease &&
      state.jobId === job.id &&
      (state.status === 'queued' || state.status === 'sending') &&
      state.lease.until.getTime() > Date.now()
    ) {
      throw new LeaseHeldError(data.deliveryId, state.lease.until);
    }
    return { status: 'stale' };
  }
  job.lease = delivery.lease;
  const keeper = keepLease(store, delivery, lease.ttlMs, ctx.logger);
  job.leaseLost = () => keeper.lost;
  try {
    return await processClaimed(ctx, delivery, job);
  } finally {
    keeper.stop();
    // The claim marked a part "outcome unknown" and this attempt ended before sending it (the
    // settings, the policy, the connector, the images or the rate-limit gate stopped it): nothing
    // reached X, so the mark goes, and the next attempt posts without searching X first.
    const marked = delivery.parts.find((p) => p.part === delivery.markedPart);
    if (marked) {
      marked.outcomeUnknown = false;
      await store.deliveries
        .partOutcomeUnknown(delivery.id, marked.part, false, delivery.lease.epoch)
        .catch((err: unknown) =>
          ctx.logger.warn(
            { deliveryId: delivery.id, err: (err as Error).message },
            'could not clear an outcome-unknown mark; the next attempt searches X first',
          ),
        );
    }
  }
}

async function processClaimed(
  ctx: ProcessContext,
  delivery: ClaimedDelivery,
  job: JobInfo,
): Promise<ProcessResult> {
  const { store } = ctx;
  const log = lazyChild(ctx.logger, {
    jobId: job.id,
    deliveryId: delivery.id,
    network: delivery.network,
    organisationId: delivery.organisationId,
    attempt: job.attempt,
  });
  let settings: OrgSettings;
  try {
    settings = await ctx.settings.get(
      delivery.organisationId,
      SETTINGS_MAX_AGE_MS,
      delivery.planVersion ?? 0,
    );
  } catch (err) {
    // A store that did not answer is an outage: the runtime tries the delivery again, as after a
    // network's 5xx. Only a plan that cannot be used fails it for good.
    if (!isPlanUnusable(err)) throw err;
    return {
      status: 'failed',
      delivery: await finishWithAudit(store, delivery, 'failed', job, { error: (err as Error).message }),
    };
  }

  if (delivery.kind === 'policy') {
    const payload = delivery.payload;
    log.info({ mode: payload.mode }, 'X policy switched at the sunset');
    return {
      status: 'needs-attention',
      delivery: await finishWithAudit(store, delivery, 'needs-attention', job, {
        reason: `the sunset has come: X is now ${payload.mode}; these steps are done by hand`,
        checklist: payload.checklist,
      }),
    };
  }

  // A post due after the sunset is refused here without asking the clock; every X part is
  // judged again at the instant it leaves (publishParts).
  const refusal = policyRefusal(delivery, settings, delivery.dueAt);
  if (refusal) return skippedFor(ctx, delivery, job, log, refusal);

  if (delivery.kind === 'post') {
    const expired = capExpiredReason(delivery.payload, Date.now());
    if (expired) return skippedExpired(ctx, delivery, settings, job, log, expired);
  }

  const connector = await ctx.connectors.get(settings, delivery.network);
  if (delivery.kind === 'profile') {
    return applyDormantProfile(ctx, delivery, settings, connector, job, log);
  }
  if (delivery.kind === 'audience') return syncAudience(ctx, delivery, connector, job, log);
  return publishParts(ctx, delivery, settings, connector, job, log);
}

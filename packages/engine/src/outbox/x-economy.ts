/**
 * X's pay-per-use economy on the engine's side: whether X is paused for an organisation (its
 * credits ran out), the plan's budget with its crisis reserve and the account's daily caps, and
 * the resume that queues the held ordinary deliveries again. The worker asks here before each
 * ordinary X part; crisis posts are never held here: they go while credits last.
 */
import { SunsetError } from '@sunset/core';
import { nextJobId, type Queues } from '@sunset/queue';
import type { Store } from '@sunset/store';
import { formatUsd, usdToMicros } from '@sunset/text';
import type { PlanDocument } from '@sunset/plan';

const PAUSE_KEY = 'x.paused';

export const CREDITS_EXHAUSTED_REASON = "X credits exhausted: buy credits in X's developer console";

export interface XPause {
  kind: 'credits';
  reason: string;
  since: string;
}

export async function xPauseOf(store: Store, organisationId: string): Promise<XPause | undefined> {
  const raw = await store.kv.get(organisationId, PAUSE_KEY);
  return raw === undefined ? undefined : (JSON.parse(raw) as XPause);
}

export async function pauseX(store: Store, organisationId: string, reason: string): Promise<void> {
  const pause: XPause = { kind: 'credits', reason, since: new Date().toISOString() };
  await store.kv.set(organisationId, PAUSE_KEY, JSON.stringify(pause));
}

/** The first instant of the current calendar month, UTC: budgets are per calendar month. */
export function monthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/** An ordinary X part waits until `until` without spending an attempt (the daily cap's window). */
export class XHeldUntilError extends SunsetError {
  readonly until: Date;
  constructor(message: string, until: Date) {
    super('engine.x-held', message);
    this.until = until;
  }
}

type XConfig = NonNullable<PlanDocument['networks']['x']>;

/**
 * Why an ordinary X part must not go now, as a held delivery's reason, or undefined. A daily cap
 * that will free up throws XHeldUntilError instead: the part waits for the window.
 */
export async function xOrdinaryRefusal(
  store: Store,
  organisationId: string,
  x: XConfig | undefined,
  part: { costMicros: number; reply: boolean },
  now: Date,
): Promise<string | undefined> {
  const pause = await xPauseOf(store, organisationId);
  if (pause) {
    return `X is paused since ${pause.since}: ${pause.reason}; then run "sunset networks resume x ${organisationId}"`;
  }
  const budget = x?.budget;
  if (budget) {
    const spent = await store.xSpend.spentSince(organisationId, monthStart(now));
    const monthly = usdToMicros(budget.monthly);
    const reserve = usdToMicros(budget.crisis_reserve);
    if (spent + part.costMicros > monthly - reserve) {
      return (
        `held: this X post costs ${formatUsd(part.costMicros)} and would dip into the crisis reserve ` +
        `(${formatUsd(spent)} of the ${formatUsd(monthly)} monthly budget spent, ${formatUsd(reserve)} kept for crises)`
      );
    }
  }
  const caps = x?.daily_caps;
  if (caps) {
    const day = await store.xSpend.postsSince(organisationId, new Date(now.getTime() - 24 * 3600_000));
    const [count, limit] = part.reply
      ? [day.replies, caps.replies]
      : [day.originals, caps.posts - (caps.crisis_reserve ?? 0)];
    if (count >= limit) {
      const until = new Date((day.oldest ?? now).getTime() + 24 * 3600_000 + 1_000);
      throw new XHeldUntilError(
        `X daily cap: ${count} ${part.reply ? 'replies' : 'original posts'} in 24 hours` +
          `${!part.reply && caps.crisis_reserve ? ` (${caps.crisis_reserve} more kept for crises)` : ''}; waiting until ${until.toISOString()}`,
        until,
      );
    }
  }
  return undefined;
}

/** Where X stands for an organisation: its pause, the month's spend and the 24-hour window. */
export interface XStatus {
  paused?: XPause;
  /** Ordinary X deliveries held for a person (paused, or the budget's reserve). */
  held: number;
  month: {
    /** The calendar month's first instant (UTC). */
    since: string;
    spentMicros: number;
    /** The plan's budget, when it sets one. */
    budgetMicros?: number;
    reserveMicros?: number;
  };
  window: {
    /** The rolling 24 hours' first instant. */
    since: string;
    originals: number;
    replies: number;
    /** The account's caps, when the plan sets them. */
    caps?: { posts: number; replies: number; crisisReserve: number };
    /** Ordinary originals and replies left before the caps (crisis originals: `postsLeft`). */
    ordinaryPostsLeft?: number;
    postsLeft?: number;
    repliesLeft?: number;
  };
}

/** The organisation's X standing as the worker judges it (xOrdinaryRefusal), for people and metrics. */
export async function xStatus(
  store: Store,
  organisationId: string,
  x: XConfig | undefined,
  now: Date,
): Promise<XStatus> {
  const paused = await xPauseOf(store, organisationId);
  const held = (await store.xSpend.holds(organisationId)).length;
  const since = monthStart(now);
  const spentMicros = await store.xSpend.spentSince(organisationId, since);
  const windowSince = new Date(now.getTime() - 24 * 3600_000);
  const day = await store.xSpend.postsSince(organisationId, windowSince);
  const caps = x?.daily_caps;
  const reserve = caps?.crisis_reserve ?? 0;
  return {
    ...(paused ? { paused } : {}),
    held,
    month: {
      since: since.toISOString(),
      spentMicros,
      ...(x?.budget
        ? { budgetMicros: usdToMicros(x.budget.monthly), reserveMicros: usdToMicros(x.budget.crisis_reserve) }
        : {}),
    },
    window: {
      since: windowSince.toISOString(),
      originals: day.originals,
      replies: day.replies,
      ...(caps
        ? {
            caps: { posts: caps.posts, replies: caps.replies, crisisReserve: reserve },
            ordinaryPostsLeft: Math.max(0, caps.posts - reserve - day.originals),
            postsLeft: Math.max(0, caps.posts - day.originals),
            repliesLeft: Math.max(0, caps.replies - day.replies),
          }
        : {}),
    },
  };
}

export interface ResumeXResult {
  /** Whether X was paused. */
  wasPaused: boolean;
  /** Held deliveries queued again. */
  requeued: number;
}

/**
 * X goes on for the organisation: the pause is lifted and every held ordinary delivery still
 * waiting for a person is queued again (audited), from the part it had reached.
 */
export async function resumeX(options: {
  store: Store;
  /** Without Redis the deliveries are queued in the store only: the worker's reconciler adds their jobs. */
  queues?: Queues;
  organisationId: string;
  actor: string;
  reason?: string;
}): Promise<ResumeXResult> {
  const { store, queues, organisationId, actor } = options;
  const wasPaused = (await xPauseOf(store, organisationId)) !== undefined;
  const holds = await store.xSpend.holds(organisationId);
  const specs = [];
  for (const hold of holds) {
    const requeued = await store.transaction(async (tx) => {
      const d = await tx.deliveries.get(hold.deliveryId);
      await tx.xSpend.release(hold.deliveryId);
      if (!d || d.status !== 'needs-attention') return undefined;
      const jobId = nextJobId(d.jobId);
      await tx.deliveries.setJob(d.id, jobId, 'queued');
      await tx.audit.append({
        organisationId,
        actor,
        action: 'delivery.resumed',
        network: 'x',
        deliveryId: d.id,
        ...(d.postId ? { postId: d.postId } : {}),
        jobId,
        outcome: 'ok',
        details: { heldFor: hold.reason },
      });
      return { ...d, jobId };
    });
    if (requeued) specs.push(requeued);
  }
  await store.kv.delete(organisationId, PAUSE_KEY);
  await store.audit.append({
    organisationId,
    actor,
    action: 'x.resumed',
    network: 'x',
    outcome: 'ok',
    details: { wasPaused, requeued: specs.length, ...(options.reason ? { reason: options.reason } : {}) },
  });
  await queues?.enqueueMany(
    specs.map((d) => ({
      id: d.id,
      organisationId,
      network: 'x' as const,
      // A held post whose time has passed goes now.
      dueAt: new Date(Math.max(Date.now(), d.dueAt.getTime())),
      priority: d.priority,
      jobId: d.jobId,
    })),
  );
  return { wasPaused, requeued: specs.length };
}

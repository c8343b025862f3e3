/**
 * The job catalog: which queues exist, what each job carries (ids only: the store is the
 * truth), how often and how patiently it is retried, and how job ids are made.
 */
import { InputError, NETWORKS, isNetwork, type Network } from '@sunset/core';

/**
 * Two lanes per network. Ordinary and plan deliveries share the network's ordinary queue; crisis
 * deliveries (and their follow-ups) have a queue of their own, served by workers of their own, so
 * that a crisis never waits for a slot that a backlog of ordinary deliveries holds.
 */
export const LANES = ['ordinary', 'crisis'] as const;
export type Lane = (typeof LANES)[number];

/**
 * One queue per network and lane: BullMQ's limiter works per queue, and each network has its own
 * limits (a 429 closes both lanes of the network: see the worker runtime).
 */
export function queueName(network: Network, lane: Lane = 'ordinary'): string {
  return lane === 'crisis' ? `sunset-crisis-${network}` : `sunset-${network}`;
}

/** The ordinary queue of each network. */
export const QUEUE_NAMES: Readonly<Record<Network, string>> = Object.fromEntries(
  NETWORKS.map((n) => [n, queueName(n)]),
) as Record<Network, string>;

/** The crisis queue of each network. */
export const CRISIS_QUEUE_NAMES: Readonly<Record<Network, string>> = Object.fromEntries(
  NETWORKS.map((n) => [n, queueName(n, 'crisis')]),
) as Record<Network, string>;

/** The network and lane a queue name belongs to, or undefined for a queue that is not ours. */
export function queueOfName(name: string): { network: Network; lane: Lane } | undefined {
  for (const network of NETWORKS) {
    for (const lane of LANES) if (queueName(network, lane) === name) return { network, lane };
  }
  return undefined;
}

/**
 * Lower runs first. Every job gets one: BullMQ serves jobs without a priority before all
 * prioritised ones, and a crisis must never wait behind anything.
 */
export const PRIORITY = { crisis: 1, ordinary: 5, plan: 10 } as const;
export type PriorityClass = keyof typeof PRIORITY;

/**
 * The lane of a delivery, from its priority: the store keeps it with the delivery, so producers,
 * the reconciler and the worker all agree on it without asking anything else.
 */
export function laneOf(priority: number): Lane {
  return priority <= PRIORITY.crisis ? 'crisis' : 'ordinary';
}

export interface DeliverJobData {
  organisationId: string;
  deliveryId: string;
  /**
   * A scheduled job's due time (ms since the epoch). Such a job becomes ready `EARLY_START_MS`
   * before it: the worker takes it, loads what the post needs and starts it on this time.
   */
  dueAt?: number;
}

/**
 * How long before its due time a scheduled job becomes ready. Taking a job from Redis, promoting
 * the jobs due with it (BullMQ moves them all in one script: 35 ms for 500) and building an
 * organisation's connectors all take time; done ahead, the post starts on its due time instead
 * of tens of milliseconds after it. A job taken early holds its slot until then (`startOnTime`
 * in the worker runtime).
 */
export const EARLY_START_MS = 500;

export const BACKOFF_TYPE = 'sunset-jitter';

export const JOBS = {
  deliver: {
    name: 'deliver',
    /** Transient failures are retried this many times in all (about 45 minutes with the backoff). */
    attempts: 12,
    backoff: { type: BACKOFF_TYPE, delay: 2_000 },
    /** Finished jobs stay a while (so a repeated add with the same id is a no-op), then go. */
    removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
    removeOnFail: { age: 30 * 24 * 3600, count: 50_000 },
  },
  /** An event for the team: the notifier looks up who hears of it and adds one `send` per channel. */
  notify: {
    name: 'notify',
    attempts: 5,
    backoff: { type: BACKOFF_TYPE, delay: 2_000 },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
    removeOnFail: { age: 30 * 24 * 3600, count: 10_000 },
  },
  /** One notification through one channel: retried on its own, so a webhook down never resends an e-mail. */
  send: {
    name: 'send',
    /** About 35 minutes with the backoff, then given up (and audited so). */
    attempts: 10,
    backoff: { type: BACKOFF_TYPE, delay: 2_000 },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
    removeOnFail: { age: 30 * 24 * 3600, count: 10_000 },
  },
} as const;

/** The notifications' one queue: its jobs never share a slot or a limiter with a post's. */
export const NOTIFY_QUEUE = 'sunset-notify';

/** What the team is told of; the admin chooses which go to which channel. */
export const NOTIFY_EVENTS = [
  'crisis.awaiting-approval',
  'crisis.published',
  'post.awaiting-approval',
  'delivery.failed',
  'delivery.needs-attention',
  'x.paused',
  'feed.alert-drafted',
  'identity.check-failed',
] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

/** A notification job's data: the event and the ids it is about (the text is built from the store). */
export interface NotifyJobData {
  organisationId: string;
  event: NotifyEventName;
  postId?: string;
  deliveryId?: string;
  /** `send` jobs only: the operator's name of the channel it goes through. */
  channel?: string;
}

const CHANNEL = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** Checks a notification job's data, from a producer or from Redis. */
export function parseNotifyJob(data: unknown): NotifyJobData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError('notify job: the data must be an object { organisationId, event }');
  }
  const d = data as Record<string, unknown>;
  const known = ['organisationId', 'event', 'postId', 'deliveryId', 'channel'];
  const extra = Object.keys(d).filter((k) => !known.includes(k));
  if (extra.length > 0)
    throw new InputError(`notify job: unexpected field(s) ${extra.join(', ')} (ids only)`);
  if (typeof d['organisationId'] !== 'string' || !ID.test(d['organisationId']))
    throw new InputError('notify job: organisationId must be an id');
  if (!NOTIFY_EVENTS.includes(d['event'] as NotifyEventName))
    throw new InputError(`notify job: event must be one of ${NOTIFY_EVENTS.join(', ')}`);
  for (const key of ['postId', 'deliveryId'] as const) {
    const v = d[key];
    if (v !== undefined && (typeof v !== 'string' || !ID.test(v)))
      throw new InputError(`notify job: ${key} must be an id`);
  }
  const channel = d['channel'];
  if (channel !== undefined && (typeof channel !== 'string' || !CHANNEL.test(channel)))
    throw new InputError('notify job: channel must be a channel name (a-z, 0-9, "-")');
  return {
    organisationId: d['organisationId'],
    event: d['event'] as NotifyEventName,
    ...(typeof d['postId'] === 'string' ? { postId: d['postId'] } : {}),
    ...(typeof d['deliveryId'] === 'string' ? { deliveryId: d['deliveryId'] } : {}),
    ...(typeof channel === 'string' ? { channel } : {}),
  };
}

/** Whether a name can be a notification channel's (it goes into job ids and audit entries). */
export function isChannelName(name: string): boolean {
  return CHANNEL.test(name);
}

const ID = /^[A-Za-z0-9._~-]{1,200}$/;

/** Checks a deliver job's data, from a producer or from Redis; a bad one says what is wrong. */
export function parseDeliverJob(data: unknown): DeliverJobData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError('deliver job: the data must be an object { organisationId, deliveryId }');
  }
  const d = data as Record<string, unknown>;
  const extra = Object.keys(d).filter((k) => k !== 'organisationId' && k !== 'deliveryId' && k !== 'dueAt');
  if (extra.length > 0)
    throw new InputError(`deliver job: unexpected field(s) ${extra.join(', ')} (ids and a due time only)`);
  for (const key of ['organisationId', 'deliveryId'] as const) {
    const v = d[key];
    if (typeof v !== 'string' || !ID.test(v)) {
      throw new InputError(`deliver job: ${key} must be an id of letters, digits, ".", "_", "~" or "-"`);
    }
  }
  const dueAt = d['dueAt'];
  if (dueAt !== undefined && !(typeof dueAt === 'number' && Number.isSafeInteger(dueAt) && dueAt >= 0)) {
    throw new InputError('deliver job: dueAt must be a time in milliseconds since the epoch');
  }
  return {
    organisationId: d['organisationId'] as string,
    deliveryId: d['deliveryId'] as string,
    ...(dueAt !== undefined ? { dueAt } : {}),
  };
}

/**
 * `<deliveryId>.g<generation>`: a replaced delivery gets the next generation, so its new job
 * never collides with the old one (BullMQ ignores an add whose id it already holds). No ":".
 */
export function jobIdFor(deliveryId: string, generation = 1): string {
  if (!ID.test(deliveryId)) throw new InputError(`delivery id "${deliveryId}" cannot be used in a job id`);
  return `${deliveryId}.g${generation}`;
}

export function nextJobId(jobId: string): string {
  const m = /^(.*)\.g(\d+)$/.exec(jobId);
  return m ? `${m[1]}.g${Number(m[2]) + 1}` : `${jobId}.g2`;
}

/**
 * Exponential backoff with full jitter: attempt n waits a random time up to base·2^(n−1),
 * capped at 10 minutes, never less than half of it — so many jobs that failed together (an
 * outage) do not all come back at the same instant.
 */
export function backoffStrategy(
  attemptsMade: number,
  type?: string,
  _err?: Error,
  job?: { opts?: { backoff?: number | { delay?: number } } },
): number {
  if (type !== undefined && type !== BACKOFF_TYPE) return -1;
  // A job's own base delay when it has one (tests of the notifier shorten theirs).
  const own = job?.opts?.backoff;
  const base = (typeof own === 'object' ? own.delay : undefined) ?? JOBS.deliver.backoff.delay;
  const ceiling = Math.min(10 * 60_000, base * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

export interface Limiter {
  /** Jobs started per `duration` ms. */
  max: number;
  duration: number;
}

/**
 * Posting rates each network allows, per account (../shared/NETWORKS.md): X has 24-hour caps,
 * Bluesky 5,000 write points an hour (a post costs 3), Mastodon 300 requests per 5 minutes (a
 * post with images takes several). A 429 still pauses the queue until the network's reset.
 */
export const DEFAULT_LIMITS: Readonly<Record<Network, Limiter>> = {
  x: { max: 50, duration: 15 * 60_000 },
  bluesky: { max: 400, duration: 15 * 60_000 },
  mastodon: { max: 60, duration: 5 * 60_000 },
};

/** Parses "x=10/60s,bluesky=100/1m" style overrides (the worker's SUNSET_LIMITS). */
export function parseLimits(spec: string): Partial<Record<Network, Limiter>> {
  const out: Partial<Record<Network, Limiter>> = {};
  for (const item of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z]+)=(\d+)\/(\d+)(ms|s|m|h)$/.exec(item);
    if (!m || !isNetwork(m[1] ?? '')) {
      throw new InputError(
        `limit "${item}": write network=count/duration, e.g. x=50/15m or bluesky=1000/1s (networks: ${NETWORKS.join(', ')})`,
      );
    }
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[4] as 'ms' | 's' | 'm' | 'h'];
    out[m[1] as Network] = { max: Number(m[2]), duration: Number(m[3]) * unit };
  }
  return out;
}

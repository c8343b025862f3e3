/**
 * The worker runtime: one BullMQ worker per network queue (BullMQ's limiter is per queue, and
 * each network has its own posting limits), the processor, the one place where errors become
 * BullMQ behaviour, the outbox reconciler on a timer, and a shutdown that lets running jobs end.
 *
 * Each network has two lanes: the ordinary queue (plan and ordinary posts) and the crisis queue,
 * served by a worker of its own with a few slots of its own (and, when given, a store connection
 * pool of its own), so a crisis never waits for a slot or a connection held by ordinary jobs.
 * Both lanes of a network share its rate-limit window: a 429 on either closes both.
 *
 *   rate-limited     → both queues of the network wait until its reset (queue.rateLimit), no attempt spent
 *   transient        → retried with exponential backoff and jitter, until attempts run out
 *   unknown outcome  → retried; the next attempt reconciles before posting (publish.ts)
 *   permanent        → failed at once with the network's message (UnrecoverableError)
 */
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import os from 'node:os';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { InputError, NETWORKS, NETWORK_LABELS, type Logger, type Network } from '@sunset/core';
import { createGuardedClient, isNetworkError, preloadConnectors, RateLimitedError } from '@sunset/networks';
import {
  backoffStrategy,
  DEFAULT_LIMITS,
  DueWaker,
  EARLY_START_MS,
  JOBS,
  LANES,
  parseDeliverJob,
  queueName,
  queueOfName,
  Queues,
  type DeliverJobData,
  type Lane,
  type Limiter,
  waitForRedis,
} from '@sunset/queue';
import { LeaseLostError, type Store } from '@sunset/store';
import type { XPriceTable } from '@sunset/text';
import { XHeldUntilError } from '../outbox/x-economy.ts';
import { notify, type NotificationSettings } from '../outbox/notifications.ts';
import { startNotifier, type Notifier } from './notify/notifier.ts';
import { ConfigurationError, ConnectorRegistry } from './connectors.ts';
import { startFeedWatcher, type FeedWatcher } from './feeds.ts';
import { startWatch, type Watch } from './watch.ts';
import { finishWithAudit, type ImageRenderer, type JobInfo, type ProcessContext } from './job.ts';
import { NoPlanError, OrgSettingsCache } from '../outbox/org-settings.ts';
import { ProfileError } from './profile.ts';
import { LeaseHeldError, prepareDelivery, processDelivery } from './publish.ts';
import { reconcileOutbox, type ReconcileResult } from '../outbox/reconcile.ts';

export interface WorkerRuntimeOptions {
  store: Store;
  /** A worker-role connection (maxRetriesPerRequest: null), from @sunset/queue's createRedis. */
  connection: Redis;
  prefix?: string;
  logger: Logger;
  /** Where credential references (env:ORG__NAME) are resolved. */
  env: Readonly<Record<string, string | undefined>>;
  /** SUNSET_SECRETS_DIR: where credential references file:name are read, in `<dir>/<org>/`. */
  secretsDir: string;
  /** Where files for people are written (needs-attention checklists). */
  dataDir: string;
  /** Seals the Bluesky sessions kept in the store; without it none are kept (a login per connector). */
  stateKey?: Uint8Array;
  renderImage?: ImageRenderer;
  /** Networks whose queues this process serves (default all three). */
  networks?: readonly Network[];
  /** Ordinary and plan jobs run at once per network (default 4). */
  concurrency?: number;
  /** Crisis jobs run at once per network, in slots no ordinary job can take (default 16). */
  crisisConcurrency?: number;
  /**
   * The store the crisis lane reads and writes through (a small pool of its own, so that its
   * claim and finish never queue behind the ordinary jobs' queries); default `store`.
   */
  crisisStore?: Store;
  /**
   * While crisis jobs run, ordinary jobs wait before starting, at most this long at a time
   * (default 10 s; 0: they never wait).
   */
  crisisHoldMs?: number;
  limits?: Partial<Record<Network, Limiter>>;
  /**
   * How long an ordinary job's lock (and its delivery's lease in the store) lasts unless renewed:
   * a dead worker's job is taken over about this long after it died (default 15 s).
   */
  lockDurationMs?: number;
  /** The same for the crisis lane (default 3 s): a crisis held by a dead worker moves on quickly. */
  crisisLockDurationMs?: number;
  /** This process's name in the leases it takes (default host:pid:random). */
  workerId?: string;
  /** How often open deliveries are checked against Redis (default 60 s; 0: only at start). */
  reconcileIntervalMs?: number;
  /** Extra CA (PEM) for X (a sandbox's self-signed certificate). */
  xCa?: string;
  /** Per-request time limit towards the networks (default the connectors' 30 s). */
  networkTimeoutMs?: number;
  /** A connector not used this long is closed (ConnectorOptions.idleMs; default 15 minutes). */
  connectorIdleMs?: number;
  /**
   * Internal destinations ("host:port" or CIDR) that fetches of addresses from content (link
   * cards, profile images) may reach; none by default (SUNSET_FETCH_ALLOW).
   */
  fetchAllow?: readonly string[];
  /** false: no link cards on Bluesky, no page fetched for one (SUNSET_LINK_CARDS=off). */
  linkCards?: boolean;
  /** X's prices as the operator set them (SUNSET_X_PRICES); default X's published ones. */
  xPrices?: XPriceTable;
  /**
   * The plans' CAP feeds (crisis.feeds): read by this process (default), with these limits, or
   * false for none (SUNSET_FEEDS=off; another worker reads them).
   */
  feeds?: false | { tickMs?: number; timeoutMs?: number };
  /**
   * The operator's notification settings (SUNSET_NOTIFICATIONS_FILE): this process sends the
   * notifications too (default none: events are still queued for a worker that does).
   */
  notifications?: { settings: NotificationSettings; backoffMs?: number };
  /**
   * The watch (watch.ts): follower counts and daily identity checks, one worker per task at a
   * time; default none (SUNSET_WATCH turns it on in the worker service).
   */
  watch?: {
    tickMs?: number;
    followerIntervalsMs?: Partial<Record<Network, number>>;
    identityIntervalMs?: number;
    /** The DNS servers identity checks ask ("ip" or "ip:port"); default the system's. */
    dnsServers?: readonly string[];
  };
}

export interface WorkerRuntime {
  /** The reconciler's first pass, done before the workers started taking jobs. */
  readonly firstReconcile: ReconcileResult;
  reconcile(): Promise<ReconcileResult>;
  /** Stops taking jobs, waits up to `graceMs` for running ones, then closes everything. */
  close(graceMs?: number): Promise<void>;
}

/** A message safe for the audit log and the store: the network's words, never a stack. */
function describe(err: unknown): string {
  if (isNetworkError(err)) {
    const remote =
      err.remoteMessage && !err.message.includes(err.remoteMessage) ? ` (${err.remoteMessage})` : '';
    return `${NETWORK_LABELS[err.network]}: ${err.message}${remote}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Errors no retry can mend: a person must change the plan, the credentials or the access level. */
function isPermanent(err: unknown): boolean {
  if (isNetworkError(err)) return !err.retryable && err.kind !== 'unknown-outcome';
  return (
    err instanceof ConfigurationError ||
    err instanceof NoPlanError ||
    err instanceof ProfileError ||
    err instanceof InputError
  );
}

export async function startWorkerRuntime(options: WorkerRuntimeOptions): Promise<WorkerRuntime> {
  const { store, logger } = options;
  const log = logger.child({ subsystem: 'worker' });
  const networks = options.networks ?? NETWORKS;
  // The networks' client libraries are loaded before any job is taken, not by the first post to
  // each network, which may be a crisis's.
  await preloadConnectors(networks);
  const queues = new Queues({
    connection: options.connection,
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
  });
  const connectors = new ConnectorRegistry({
    store,
    env: options.env,
    secretsDir: options.secretsDir,
    logger,
    ...(options.xCa ? { xCa: options.xCa } : {}),
    ...(options.networkTimeoutMs ? { timeoutMs: options.networkTimeoutMs } : {}),
    ...(options.fetchAllow ? { fetchAllow: options.fetchAllow } : {}),
    ...(options.linkCards === false ? { linkCards: false } : {}),
    ...(options.stateKey ? { stateKey: options.stateKey } : {}),
    ...(options.connectorIdleMs !== undefined ? { idleMs: options.connectorIdleMs } : {}),
  });
  // Until when each network's window is closed (a 429's reset), for jobs already running.
  const closedUntil = new Map<Network, number>();
  const gate = (network: Network) => {
    const until = closedUntil.get(network) ?? 0;
    if (until > Date.now()) {
      throw new RateLimitedError('waiting for the rate-limit window to reopen', {
        network,
        resetAt: new Date(until),
      });
    }
  };
  const crisisStore = options.crisisStore ?? store;
  const workerId = options.workerId ?? `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const lockMs: Record<Lane, number> = {
    ordinary: options.lockDurationMs ?? DEFAULT_LOCK_MS,
    crisis: options.crisisLockDurationMs ?? DEFAULT_CRISIS_LOCK_MS,
  };
  const contextOf = (laneStore: Store, lane: Lane, sharing?: OrgSettingsCache): ProcessContext => ({
    gate,
    store: laneStore,
    // The lanes share what they know of the plans (the feed watcher refreshes it every second);
    // each reads through its own store.
    settings: new OrgSettingsCache(laneStore, sharing),
    connectors,
    logger,
    dataDir: options.dataDir,
    ...(options.renderImage ? { renderImage: options.renderImage } : {}),
    // The lease lasts as long as the lane's lock: both run out about when a dead worker's job moves.
    lease: { owner: workerId, ttlMs: lockMs[lane] },
    queues,
    ...(options.xPrices ? { xPrices: options.xPrices } : {}),
    notify: (event) => notify(queues, event, log),
  });
  const ordinaryCtx = contextOf(store, 'ordinary');
  const contexts: Record<Lane, ProcessContext> = {
    ordinary: ordinaryCtx,
    crisis:
      crisisStore === store
        ? { ...ordinaryCtx, lease: { owner: workerId, ttlMs: lockMs.crisis } }
        : contextOf(crisisStore, 'crisis', ordinaryCtx.settings),
  };

  await waitForRedis(options.connection, 'the worker connection', 30_000);
  const reconcileLog = log.child({ subsystem: 'reconciler' });
  const reconcile = (between?: () => Promise<void>) =>
    reconcileOutbox({ store, queues, logger: reconcileLog, ...(between ? { between } : {}) });
  // Before taking any job: whatever Redis lost while this process was down goes back first.
  const firstReconcile = await reconcile();
  log.info(firstReconcile, 'outbox reconciled at start');

  /**
   * The team hears of a delivery that failed or needs a person, and of a crisis once every one of
   * its networks is done (the job ids make that one notification whichever network ends last).
   */
  const told = async (
    laneStore: Store,
    delivery: {
      id: string;
      organisationId: string;
      postId?: string;
      source: string;
      kind: string;
      jobId: string;
    },
    status: string,
  ) => {
    if (status === 'failed' || status === 'needs-attention') {
      await notify(
        queues,
        {
          organisationId: delivery.organisationId,
          event: status === 'failed' ? 'delivery.failed' : 'delivery.needs-attention',
          deliveryId: delivery.id,
          ...(delivery.postId ? { postId: delivery.postId } : {}),
          key: delivery.jobId,
        },
        log,
      );
    }
    if (delivery.source !== 'crisis' || delivery.kind !== 'post' || !delivery.postId) return;
    // The statuses alone (batched with the other jobs' on PostgreSQL), not the deliveries and parts.
    const all = await laneStore.deliveries
      .statusesOfPost(delivery.organisationId, delivery.postId)
      .catch((): string[] => []);
    if (all.length === 0 || all.some((s) => s === 'queued' || s === 'sending')) return;
    if (!all.includes('published')) return;
    await notify(
      queues,
      {
        organisationId: delivery.organisationId,
        event: 'crisis.published',
        postId: delivery.postId,
        key: delivery.postId,
      },
      log,
    );
  };

  const failAttempt = async (
    store: Store,
    job: Job<DeliverJobData>,
    info: JobInfo,
    err: unknown,
  ): Promise<never> => {
    const data = job.data;
    const message = describe(err);
    const jobLog = log.child({ jobId: job.id, deliveryId: data.deliveryId, queue: job.queueName });
    // Every store write below is under this attempt's lease; without one (no claim) it writes nothing.
    const epoch = info.lease?.epoch;
    const retryLater = async () => {
      if (epoch !== undefined)
        await store.deliveries.retryLater(data.deliveryId, message, epoch).catch(() => undefined);
    };
    const delivery = await store.deliveries.get(data.deliveryId).catch(() => undefined);
    const audit = async (action: string, extra: Record<string, unknown>) => {
      if (!delivery) return;
      await store.audit.append({
        organisationId: delivery.organisationId,
        actor: 'system',
        action,
        network: delivery.network,
        deliveryId: delivery.id,
        ...(delivery.postId ? { postId: delivery.postId } : {}),
        jobId: info.id,
        outcome: 'error',
        error: message,
        details: { attempt: info.attempt, ...extra },
      });
    };

    if (err instanceof RateLimitedError) {
      const waitMs = Math.max(1_000, err.retryAfterMs() ?? 60_000);
      // First of all, before any await: no other running job may knock on this network now.
      const until = Date.now() + waitMs;
      if (until > (closedUntil.get(err.network) ?? 0)) closedUntil.set(err.network, until);
      jobLog.warn(
        { waitMs, resetAt: err.resetAt?.toISOString() },
        'rate limited: the queue waits for the reset',
      );
      await retryLater();
      await audit('delivery.rate-limited', { waitMs, resetAt: err.resetAt?.toISOString() }).catch(
        () => undefined,
      );
      // Both lanes of the network: the crisis queue and the ordinary one share the account's limits.
      await queues.rateLimit(networkOfQueue(job.queueName), waitMs);
      throw Worker.RateLimitError();
    }

    const attempts = job.opts.attempts ?? JOBS.deliver.attempts;
    if (isPermanent(err) || info.attempt >= attempts) {
      jobLog.error({ err: message, attempt: info.attempt }, 'delivery failed');
      if (delivery && delivery.status !== 'published' && info.lease) {
        const done = await finishWithAudit(store, delivery, 'failed', info, {
          error: isPermanent(err) ? message : `${message} (gave up after ${info.attempt} attempts)`,
        });
        await told(store, done, 'failed');
      }
      throw new UnrecoverableError(message);
    }
    jobLog.warn({ err: message, attempt: info.attempt, of: attempts }, 'attempt failed; retrying later');
    await retryLater();
    await audit('delivery.attempt-failed', { retryable: true }).catch(() => undefined);
    throw err instanceof Error ? err : new Error(message);
  };

  /** Whether an attempt met another holder's lease, or lost its own: then it records nothing. */
  const leaseOutcome = async (
    job: Job<DeliverJobData>,
    token: string | undefined,
    err: unknown,
  ): Promise<string | undefined> => {
    const jobLog = log.child({ jobId: job.id, deliveryId: job.data.deliveryId, queue: job.queueName });
    if (err instanceof LeaseLostError) {
      // Paused or cut off past its lease: another worker has the delivery now and goes on with it.
      jobLog.warn({ err: err.message }, 'lease taken over by another worker; this attempt stops');
      return 'stale';
    }
    if (err instanceof XHeldUntilError) {
      // The account's daily cap: the delivery waits for the window without spending an attempt.
      jobLog.info({ until: err.until.toISOString() }, 'X post held by the daily cap');
      await job.moveToDelayed(Math.max(Date.now(), err.until.getTime()), token);
      throw new DelayedError();
    }
    if (err instanceof LeaseHeldError) {
      // Another worker holds the delivery (or held it and died): look again once its lease ends,
      // without spending an attempt.
      jobLog.info({ until: err.until.toISOString() }, 'delivery held by another worker; waiting');
      await job.moveToDelayed(Math.max(Date.now(), err.until.getTime()) + LEASE_MARGIN_MS, token);
      throw new DelayedError();
    }
    return undefined;
  };

  const processorOf =
    (ctx: ProcessContext) =>
    async (job: Job<DeliverJobData>, token?: string): Promise<string> => {
      const data = parseDeliverJob(job.data);
      const info: JobInfo = { id: job.id ?? '', attempt: job.attemptsMade + 1 };
      if (data.dueAt !== undefined)
        await startOnTime(ctx, data.organisationId, networkOfQueue(job.queueName), data.dueAt);
      try {
        const result = await processDelivery(ctx, data, info);
        if (result.status !== 'stale') await told(ctx.store, result.delivery, result.status);
        return result.status;
      } catch (err) {
        const outcome = await leaseOutcome(job, token, err);
        if (outcome !== undefined) return outcome;
        try {
          return await failAttempt(ctx.store, job, info, err);
        } catch (failure) {
          // Recording the failure found the lease taken over: the new holder decides.
          return (await leaseOutcome(job, token, failure)) ?? Promise.reject(failure as Error);
        }
      }
    };
  // Slots of its own are not enough on a busy machine: the ordinary jobs' CPU time, store queries
  // and audit-chain commits would still slow every crisis down. So while crisis jobs run in this
  // process (and for CRISIS_LINGER_MS after the last one, as crises come in bursts), ordinary jobs
  // do not start their work (those under way go on), for at most `crisisHoldMs` at a time, so
  // that a crisis stuck on a slow network never stops the rest.
  let crisisRunning = 0;
  let lastCrisisEnd = 0;
  const holdMs = options.crisisHoldMs ?? 10_000;
  const quiet = () => crisisRunning === 0 && Date.now() - lastCrisisEnd >= CRISIS_LINGER_MS;
  const waitForCrises = async (): Promise<void> => {
    const until = Date.now() + holdMs;
    while (!quiet() && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(HOLD_POLL_MS, until - Date.now())));
    }
  };
  // Background work (the reconciler's pass, the watch's tasks) waits there while crisis jobs run,
  // as ordinary jobs do, and otherwise lets queued work in first.
  const giveWay = async () => {
    if (holdMs > 0 && !quiet()) await waitForCrises();
    else await new Promise((resolve) => setImmediate(resolve));
  };
  const ordinaryProcessor = processorOf(contexts.ordinary);
  const crisisProcessor = processorOf(contexts.crisis);
  const processors: Record<Lane, ReturnType<typeof processorOf>> = {
    ordinary: async (job, token) => {
      if (holdMs > 0 && !quiet()) await waitForCrises();
      return ordinaryProcessor(job, token);
    },
    crisis: async (job, token) => {
      crisisRunning += 1;
      try {
        return await crisisProcessor(job, token);
      } finally {
        crisisRunning -= 1;
        lastCrisisEnd = Date.now();
      }
    },
  };
  const concurrency: Record<Lane, number> = {
    ordinary: options.concurrency ?? 4,
    crisis: options.crisisConcurrency ?? 16,
  };

  const workers = networks.flatMap((network) =>
    LANES.map((lane) => {
      // Each lane has the network's limiter (BullMQ counts per queue), and without one BullMQ would
      // not look at the window a 429 closed (queue.rateLimit) either.
      const limiter = options.limits?.[network] ?? DEFAULT_LIMITS[network];
      const worker = new Worker<DeliverJobData, string>(queueName(network, lane), processors[lane], {
        connection: options.connection,
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        concurrency: concurrency[lane],
        limiter,
        lockDuration: lockMs[lane],
        // BullMQ moves a dead worker's job at the first stalled check after its lock ran out (one
        // check at a time across all workers): checking three times per lock duration keeps that
        // within about 4/3 of it (crisis 3 s → ~4 s, ordinary 15 s → ~20 s).
        stalledInterval: Math.max(250, Math.round(lockMs[lane] / 3)),
        // A crash mid-job is not the job's fault: let it be taken over several times.
        maxStalledCount: 10,
        settings: { backoffStrategy },
      });
      worker.on('error', (err) => log.error({ err: err.message, network, lane }, 'worker error'));
      return worker;
    }),
  );
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // Delayed jobs (scheduled posts, retries after a backoff) start when due, not at Redis's next
  // clock tick (due-waker.ts).
  const wakers = networks.flatMap((network) =>
    LANES.map((lane) => {
      const waker = new DueWaker(queues.queue(network, lane), options.connection, {
        onError: (err) =>
          log.debug({ err: (err as Error).message, network, lane }, 'due waker: retrying at the next look'),
      });
      waker.start();
      return waker;
    }),
  );
  log.info(
    {
      networks,
      concurrency: concurrency.ordinary,
      crisisConcurrency: concurrency.crisis,
      crisisStore: crisisStore !== store,
    },
    'worker started',
  );

  // The feeds read through the guarded client with the operator's allow-list, as link cards are.
  const feeds: FeedWatcher | undefined =
    options.feeds === false
      ? undefined
      : startFeedWatcher({
          store,
          queues,
          settings: ordinaryCtx.settings,
          client: createGuardedClient({ allow: options.fetchAllow ?? [] }),
          logger,
          owner: workerId,
          ...options.feeds,
        });

  const notifier: Notifier | undefined = options.notifications
    ? await startNotifier({
        store,
        connection: options.connection,
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        queues,
        settings: options.notifications.settings,
        env: options.env,
        secretsDir: options.secretsDir,
        ...(options.fetchAllow ? { fetchAllow: options.fetchAllow } : {}),
        logger,
        ...(options.notifications.backoffMs !== undefined
          ? { backoffMs: options.notifications.backoffMs }
          : {}),
      })
    : undefined;

  const watch: Watch | undefined = options.watch
    ? (() => {
        const w = options.watch;
        const dns = new Resolver({ timeout: 5_000, tries: 2 });
        if (w.dnsServers?.length) dns.setServers([...w.dnsServers]);
        return startWatch({
          store,
          settings: ordinaryCtx.settings,
          connectors,
          queues,
          logger,
          owner: workerId,
          ...(w.tickMs !== undefined ? { tickMs: w.tickMs } : {}),
          ...(w.followerIntervalsMs ? { followerIntervalsMs: w.followerIntervalsMs } : {}),
          identity: {
            ...(w.identityIntervalMs !== undefined ? { intervalMs: w.identityIntervalMs } : {}),
            dns,
            client: createGuardedClient({ allow: options.fetchAllow ?? [] }),
          },
          ...(options.xPrices ? { xPrices: options.xPrices } : {}),
          giveWay,
        });
      })()
    : undefined;

  const interval = options.reconcileIntervalMs ?? 60_000;
  let reconciling: Promise<unknown> = Promise.resolve();
  let passing = false;
  // A pass reads every open delivery and asks Redis about each job (with a backlog of thousands,
  // tens of milliseconds of this event loop and of Redis): before it and between its chunks it
  // gives way to crises (giveWay, above).
  const pass = async () => {
    await giveWay();
    await reconcile(giveWay);
  };
  const timer =
    interval > 0
      ? setInterval(() => {
          if (passing) return;
          passing = true;
          reconciling = pass()
            .catch((err: unknown) =>
              log.error({ err: describe(err) }, 'reconciler pass failed; next one in a minute'),
            )
            .finally(() => {
              passing = false;
            });
        }, interval)
      : undefined;
  timer?.unref();

  let closed: Promise<void> | undefined;
  return {
    firstReconcile,
    reconcile,
    close(graceMs = 10_000) {
      closed ??= (async () => {
        if (timer) clearInterval(timer);
        await Promise.all(wakers.map((w) => w.stop()));
        await feeds?.close();
        await watch?.close();
        log.info({ graceMs }, 'stopping: waiting for running jobs');
        let timedOut = false;
        const graceful = Promise.all(workers.map((w) => w.close()));
        const limit = new Promise<void>((resolve) =>
          setTimeout(() => {
            timedOut = true;
            resolve();
          }, graceMs).unref(),
        );
        await Promise.race([graceful, limit]);
        if (timedOut) {
          // Jobs still running keep their "sending" mark; the next worker takes them over.
          log.warn('grace period over: closing with jobs still running');
          await Promise.all(workers.map((w) => w.close(true)));
        }
        await reconciling;
        await notifier?.close();
        await queues.close();
        await connectors.close();
        log.info('worker stopped');
      })();
      return closed;
    },
  };
}

/**
 * A scheduled job is ready `EARLY_START_MS` before its due time (catalog.ts): it loads what its
 * post needs, then waits for that time. One that is further ahead than twice that (promoted by
 * hand, say) starts at once: promoting a job means "now".
 */
async function startOnTime(ctx: ProcessContext, organisationId: string, network: Network, dueAt: number) {
  if (dueAt - Date.now() > 2 * EARLY_START_MS) return;
  await prepareDelivery(ctx, organisationId, network);
  const wait = dueAt - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Default lock (and lease) durations: a dead worker's ordinary job moves within ~20 s, a crisis within ~4 s. */
export const DEFAULT_LOCK_MS = 15_000;
export const DEFAULT_CRISIS_LOCK_MS = 3_000;
/** A job that met another holder's lease looks again this long after that lease ends. */
const LEASE_MARGIN_MS = 50;

/** How long after the last crisis job ordinary jobs still wait: the next crisis of a burst is near. */
const CRISIS_LINGER_MS = 100;
/** How often a held ordinary job looks whether the crises are over. */
const HOLD_POLL_MS = 10;

function networkOfQueue(name: string): Network {
  const found = queueOfName(name);
  if (!found) throw new Error(`queue ${name} belongs to no network`);
  return found.network;
}

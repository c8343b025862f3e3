/**
 * The producer side: adds, replaces and removes delivery jobs on the per-network queues, each
 * job in its lane's queue (crisis deliveries in the network's crisis queue, the rest in its
 * ordinary queue). The API, plan apply and the worker's reconciler all go through here.
 */
import { Queue, type JobsOptions, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import { NETWORKS, type Network } from '@sunset/core';
import {
  EARLY_START_MS,
  JOBS,
  LANES,
  laneOf,
  NOTIFY_QUEUE,
  parseDeliverJob,
  parseNotifyJob,
  type NotifyJobData,
  queueName,
  type DeliverJobData,
  type Lane,
} from './catalog.ts';
import { RedisSetupError } from './redis.ts';

/** What a job needs to know of a delivery (the store's Delivery fits). */
export interface DeliveryJobSpec {
  id: string;
  organisationId: string;
  network: Network;
  dueAt: Date;
  /** Also says the lane (`laneOf`): crisis priority goes to the crisis queue. */
  priority: number;
  jobId: string;
}

export interface QueuesOptions {
  connection: Redis;
  /** Key prefix in Redis (default "bull"); tests and several deployments sharing a Redis use their own. */
  prefix?: string;
  /** How long an add or remove may wait for Redis before it fails (default 5 s). */
  timeoutMs?: number;
}

/** Jobs per addBulk: small enough for Redis to start on the first while the rest are built. */
const JOBS_PER_BATCH = 250;

/** A job's options: a scheduled one is delayed until `EARLY_START_MS` before its due time. */
export function deliverJobOptions(spec: DeliveryJobSpec, now = Date.now()): JobsOptions {
  return {
    jobId: spec.jobId,
    delay: Math.max(0, spec.dueAt.getTime() - EARLY_START_MS - now),
    priority: spec.priority,
    attempts: JOBS.deliver.attempts,
    backoff: { ...JOBS.deliver.backoff },
    removeOnComplete: { ...JOBS.deliver.removeOnComplete },
    removeOnFail: { ...JOBS.deliver.removeOnFail },
  };
}

/** A job's data: the ids, and the due time of one that is not due yet (catalog.ts, `dueAt`). */
export function deliverJobData(spec: DeliveryJobSpec, now = Date.now()): DeliverJobData {
  const due = spec.dueAt.getTime();
  return parseDeliverJob({
    organisationId: spec.organisationId,
    deliveryId: spec.id,
    ...(due > now ? { dueAt: due } : {}),
  });
}

export class Queues {
  readonly prefix: string | undefined;
  private readonly queues = new Map<string, Queue<DeliverJobData>>();
  private readonly connection: Redis;
  private readonly timeoutMs: number;

  constructor(options: QueuesOptions) {
    this.connection = options.connection;
    this.prefix = options.prefix;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /**
   * Fails at once when the connection is down and after `timeoutMs` otherwise: a producer must
   * learn that Redis is away (and answer 503) instead of waiting for it to come back.
   */
  private async bounded<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.connection.status !== 'ready') {
      throw new RedisSetupError(`Redis is not connected (${this.connection.status}); cannot ${what}`);
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new RedisSetupError(`Redis did not answer within ${this.timeoutMs} ms; cannot ${what}`)),
            this.timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether Redis is connected now: producers refuse to accept work when it is not. */
  ready(): boolean {
    return this.connection.status === 'ready';
  }

  /** The network's queue of that lane (default its ordinary one). */
  queue(network: Network, lane: Lane = 'ordinary'): Queue<DeliverJobData> {
    const name = queueName(network, lane);
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue<DeliverJobData>(name, {
        connection: this.connection,
        ...(this.prefix !== undefined ? { prefix: this.prefix } : {}),
      });
      q.on('error', () => undefined);
      this.queues.set(name, q);
    }
    return q;
  }

  async enqueue(spec: DeliveryJobSpec): Promise<void> {
    await this.enqueueMany([spec]);
  }

  /**
   * Adds many jobs: batches per queue (network and lane), crisis lanes first. Callers at
   * the same moment share the batches (like the store's group commit): while one round of adds is
   * on its way to Redis, the next callers' jobs wait and go together in the next round, so a
   * burst of requests costs a few Redis round trips instead of one per request and network. Each
   * caller hears once its own jobs are in Redis, or of the error that kept its round out.
   */
  enqueueMany(specs: readonly DeliveryJobSpec[]): Promise<void> {
    if (specs.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pendingAdds.push({ specs, resolve, reject });
      if (!this.adding) {
        // The next turn of the event loop: the callers of this one go in the same round.
        this.adding = true;
        setImmediate(() => void this.addRounds());
      }
    });
  }

  private readonly pendingAdds: {
    specs: readonly DeliveryJobSpec[];
    resolve: () => void;
    reject: (err: unknown) => void;
  }[] = [];
  private adding = false;

  private async addRounds(): Promise<void> {
    this.adding = true;
    try {
      while (this.pendingAdds.length > 0) {
        const round = this.pendingAdds.splice(0);
        const specs = round.flatMap((r) => r.specs);
        try {
          await this.bounded(`add ${specs.length} job(s)`, () => this.addAll(specs));
          for (const r of round) r.resolve();
        } catch (err) {
          for (const r of round) r.reject(err);
        }
      }
    } finally {
      this.adding = false;
    }
  }

  private async addAll(specs: readonly DeliveryJobSpec[]): Promise<void> {
    const now = Date.now();
    for (const lane of ['crisis', 'ordinary'] as const) {
      // The networks' queues are independent: their batches travel together.
      await Promise.all(NETWORKS.map((network) => this.addLane(network, lane, specs, now)));
    }
  }

  private async addLane(network: Network, lane: Lane, specs: readonly DeliveryJobSpec[], now: number) {
    const mine = specs.filter((s) => s.network === network && laneOf(s.priority) === lane);
    // Every batch is sent as soon as it is built, without waiting for the one before: Redis
    // adds one batch while the next is being built, instead of the two taking turns.
    const batches: Promise<unknown>[] = [];
    for (let i = 0; i < mine.length; i += JOBS_PER_BATCH) {
      batches.push(
        this.queue(network, lane).addBulk(
          mine.slice(i, i + JOBS_PER_BATCH).map((s) => ({
            name: JOBS.deliver.name,
            data: deliverJobData(s, now),
            opts: deliverJobOptions(s, now),
          })),
        ),
      );
    }
    await Promise.all(batches);
  }

  /**
   * Removes a job that is still waiting or delayed. An active one is left alone: it finds out
   * from the store that it is stale and does nothing. Without a lane both of the network's
   * queues are looked in (the ordinary one first). Returns whether a job was removed.
   */
  async remove(network: Network, jobId: string, lane?: Lane): Promise<boolean> {
    return this.bounded(`remove job ${jobId}`, async () => {
      for (const l of lane ? [lane] : LANES) {
        const found = await this.removeJob(network, l, jobId);
        if (found !== 'absent') return found === 'removed';
      }
      return false;
    });
  }

  /**
   * Removes many jobs, each as `remove` would (a job a worker holds is left alone; without a lane
   * both of the network's queues are looked in): the removals travel together instead of one
   * round trip, or three, after another.
   */
  async removeMany(jobs: readonly { network: Network; jobId: string; lane?: Lane }[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.bounded(`remove ${jobs.length} job(s)`, async () => {
      for (let i = 0; i < jobs.length; i += 1000) {
        await Promise.all(
          jobs
            .slice(i, i + 1000)
            .flatMap(({ network, jobId, lane }) =>
              (lane ? [lane] : LANES).map((l) => this.queue(network, l).remove(jobId)),
            ),
        );
      }
    });
  }

  private async removeJob(
    network: Network,
    lane: Lane,
    jobId: string,
  ): Promise<'removed' | 'kept' | 'absent'> {
    const job = await this.queue(network, lane).getJob(jobId);
    if (!job) return 'absent';
    const state = await job.getState();
    if (state === 'active') return 'kept';
    try {
      await job.remove();
      return 'removed';
    } catch {
      return 'kept';
    }
  }

  /**
   * The job's state, or undefined when Redis does not have it. Without a lane both of the
   * network's queues are looked in (the ordinary one first).
   */
  async jobState(network: Network, jobId: string, lane?: Lane): Promise<JobState | 'unknown' | undefined> {
    return this.bounded(`read job ${jobId}`, async () => {
      for (const l of lane ? [lane] : LANES) {
        const job = await this.queue(network, l).getJob(jobId);
        if (job) return job.getState();
      }
      return undefined;
    });
  }

  /**
   * The states of many jobs of one queue ('unknown' for a job Redis does not hold), looked up
   * a batch at a time so that checking thousands of deliveries stays quick.
   */
  async jobStates(
    network: Network,
    jobIds: readonly string[],
    lane: Lane = 'ordinary',
  ): Promise<Map<string, JobState | 'unknown'>> {
    const queue = this.queue(network, lane);
    const out = new Map<string, JobState | 'unknown'>();
    for (let i = 0; i < jobIds.length; i += 200) {
      const batch = jobIds.slice(i, i + 200);
      const states = await this.bounded(`read ${batch.length} job state(s)`, () =>
        Promise.all(batch.map((id) => queue.getJobState(id))),
      );
      batch.forEach((id, j) => out.set(id, states[j] ?? 'unknown'));
    }
    return out;
  }

  /** Jobs waiting, delayed, active, prioritised, failed and completed per network, both lanes added up. */
  async depths(): Promise<Record<Network, Record<string, number>>> {
    const lanes = await this.laneDepths();
    const out = {} as Record<Network, Record<string, number>>;
    for (const network of NETWORKS) {
      const sum: Record<string, number> = {};
      for (const lane of LANES) {
        for (const [state, n] of Object.entries(lanes[network][lane])) sum[state] = (sum[state] ?? 0) + n;
      }
      out[network] = sum;
    }
    return out;
  }

  /** The same counts per network and lane: how much crisis work waits, apart from the rest. */
  async laneDepths(): Promise<Record<Network, Record<Lane, Record<string, number>>>> {
    const out = {} as Record<Network, Record<Lane, Record<string, number>>>;
    for (const network of NETWORKS) {
      const lanes = {} as Record<Lane, Record<string, number>>;
      for (const lane of LANES) {
        lanes[lane] = await this.queue(network, lane).getJobCounts(
          'waiting',
          'delayed',
          'active',
          'prioritized',
          'failed',
          'completed',
        );
      }
      out[network] = lanes;
    }
    return out;
  }

  /** The notifications' queue (catalog.ts, NOTIFY_QUEUE). */
  notifyQueue(): Queue<NotifyJobData> {
    let q = this.notifications;
    if (!q) {
      q = new Queue<NotifyJobData>(NOTIFY_QUEUE, {
        connection: this.connection,
        ...(this.prefix !== undefined ? { prefix: this.prefix } : {}),
      });
      q.on('error', () => undefined);
      this.notifications = q;
    }
    return q;
  }

  private notifications: Queue<NotifyJobData> | undefined;

  /**
   * Adds a notification job (`notify` for an event, `send` for one channel); a job id Redis
   * already holds is not added again, so an event told twice is sent once.
   */
  async notify(
    kind: 'notify' | 'send',
    data: NotifyJobData,
    jobId: string,
    options: { backoffMs?: number } = {},
  ): Promise<void> {
    const spec = JOBS[kind];
    await this.bounded(`add notification ${jobId}`, () =>
      this.notifyQueue().add(spec.name, parseNotifyJob(data), {
        jobId,
        attempts: spec.attempts,
        backoff: {
          ...spec.backoff,
          ...(options.backoffMs !== undefined ? { delay: options.backoffMs } : {}),
        },
        removeOnComplete: { ...spec.removeOnComplete },
        removeOnFail: { ...spec.removeOnFail },
      }),
    );
  }

  /** Closes the rate-limit window of both of a network's queues for `ms` (after a 429). */
  async rateLimit(network: Network, ms: number): Promise<void> {
    await Promise.all(LANES.map((lane) => this.queue(network, lane).rateLimit(ms)));
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.queues.values(), ...(this.notifications ? [this.notifications] : [])].map((q) => q.close()),
    );
    this.queues.clear();
    this.notifications = undefined;
  }
}

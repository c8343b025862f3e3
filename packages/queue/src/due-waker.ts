/**
 * Delayed jobs on time.
 *
 * A BullMQ worker with nothing to do waits for its queue's next delayed job (a scheduled post, a
 * retry after its backoff) with a blocking Redis command whose time limit is that job's due time.
 * Redis looks at such limits on its clock ticks, `hz` times a second: 10 by default, so the wait
 * ends up to 100 ms after the due time (docs/performance-notes.md). A DueWaker keeps a timer of
 * its own for the queue's earliest delayed job and promotes that job when it falls due
 * (`job.promote()`, BullMQ's API), which wakes the waiting workers at once; BullMQ moves every
 * other job due by then as it takes the first. It reads which job is next every `pollMs` and after each wake; a job due further ahead
 * than two polls is left to the next look.
 *
 * Which job is next and when is read as BullMQ keeps it: the delayed set's first member, scored
 * due time × 0x1000 plus a counter (bullmq's getDelayedScore.lua); due-waker.test.ts checks it.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The counter's room in a delayed score (BullMQ: up to 4096 jobs per millisecond). */
const SCORE_FACTOR = 0x1000;

export interface DueWakerOptions {
  /** How often the earliest delayed job is looked up (default 1,000 ms). */
  pollMs?: number;
  /** Errors of the lookups and promotions (they are retried at the next poll). */
  onError?: (err: unknown) => void;
}

export interface NextDelayed {
  id: string;
  /** When the job falls due, ms since the epoch. */
  due: number;
}

export class DueWaker {
  private readonly queue: Queue;
  private readonly redis: Redis;
  private readonly pollMs: number;
  private readonly onError: (err: unknown) => void;
  private poller: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private armed: NextDelayed | undefined;
  private looking: Promise<void> | undefined;
  private waking: Promise<void> | undefined;
  private stopped = false;
  private lastWake = 0;

  constructor(queue: Queue, redis: Redis, options: DueWakerOptions = {}) {
    this.queue = queue;
    this.redis = redis;
    this.pollMs = options.pollMs ?? 1_000;
    this.onError = options.onError ?? (() => undefined);
  }

  start(): void {
    if (this.poller || this.stopped) return;
    this.look();
    this.poller = setInterval(() => this.look(), this.pollMs);
    this.poller.unref();
  }

  /** The queue's earliest delayed job, if any. */
  async next(): Promise<NextDelayed | undefined> {
    const [id, score] = await this.redis.zrange(this.queue.keys['delayed']!, '0', '0', 'WITHSCORES');
    if (id === undefined || score === undefined) return undefined;
    return { id, due: Math.floor(Number(score) / SCORE_FACTOR) };
  }

  private look(): void {
    if (this.looking || this.stopped) return;
    this.looking = this.next()
      .then((next) => this.arm(next))
      .catch(this.onError)
      .finally(() => {
        this.looking = undefined;
      });
  }

  private arm(next: NextDelayed | undefined): void {
    if (this.stopped) return;
    if (next && this.armed && next.id === this.armed.id && next.due === this.armed.due) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armed = undefined;
    if (!next) return;
    // BullMQ promotes a job once its due time is behind: a millisecond after it.
    const wait = next.due + 1 - Date.now();
    if (wait > 2 * this.pollMs) return;
    // A job already due while the workers are busy is theirs to take when they next fetch: it
    // is promoted once per poll at most, not one job after the other.
    if (wait <= 0 && Date.now() - this.lastWake < this.pollMs) return;
    this.armed = next;
    this.timer = setTimeout(() => this.wake(next), Math.max(0, wait));
    this.timer.unref();
  }

  private wake(next: NextDelayed): void {
    this.timer = undefined;
    this.armed = undefined;
    this.lastWake = Date.now();
    this.waking = (async () => {
      try {
        const job = await this.queue.getJob(next.id);
        if (job && (await job.isDelayed())) await job.promote();
      } catch (err) {
        // Most often a worker took the job meanwhile: it is no longer delayed.
        this.onError(err);
      }
    })().finally(() => {
      this.waking = undefined;
      this.look();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    clearTimeout(this.timer);
    this.poller = undefined;
    this.timer = undefined;
    await this.looking;
    await this.waking;
  }
}

/**
 * Failed sign-ins per client address, in fixed windows: past the limit, a request without a
 * valid token gets 429 until its address's window ends. A valid token is checked first and never
 * limited (tokens are long random values: the limit protects the store and the audit log from a
 * flood, not the tokens from guessing), so nobody is locked out by others' failures.
 *
 * Memory is bounded: at most `maxAddresses` addresses are tracked, their windows ending oldest
 * first; while every tracked window still runs, a new address shares one overflow bucket with
 * the others that found no room, limited like any address. Each address's failures reach the
 * audit log as one summary per window, written when the window ends or the limiter closes.
 */

import { isIP } from 'node:net';

/**
 * The address a client is limited by: an IPv6 client by its /64 (one subscriber's network holds
 * as many addresses as it likes), an IPv4 one (also written as ::ffff:a.b.c.d) by its address.
 */
export function limitKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::a.b.c.d) counts for two groups; it is past the /64 anyway.
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** What the audit log gets for one address and window. */
export interface SignInFailureSummary {
  /** The client address, or "overflow" for the addresses that found no room. */
  ip: string;
  count: number;
  first: Date;
  last: Date;
  /** "METHOD /route" of the failed requests (the first ROUTES_KEPT different ones). */
  routes: string[];
  /** Why each failed, and how often. */
  reasons: Record<string, number>;
  /** The request id of the window's first failure, to find it in the logs. */
  requestId: string;
  /** Overflow only: a few of the addresses it held. */
  sample?: string[];
}

export interface SignInLimiterOptions {
  /** Failures allowed per address and window; the next ones get 429. */
  limit: number;
  windowMs: number;
  maxAddresses: number;
  /** Writes one summary (to the audit log); a failure to write is the writer's to report. */
  write(summary: SignInFailureSummary): Promise<void>;
}

const ROUTES_KEPT = 20;
const SAMPLE_KEPT = 10;

interface Window {
  ip: string;
  count: number;
  first: number;
  last: number;
  until: number;
  routes: Set<string>;
  reasons: Map<string, number>;
  requestId: string;
  sample?: Set<string>;
}

export interface Failure {
  ip: string;
  route: string;
  reason: string;
  requestId: string;
}

export class SignInLimiter {
  readonly #options: SignInLimiterOptions;
  /** Insertion order is window order: a window starts when its address is (re)inserted. */
  readonly #windows = new Map<string, Window>();
  #overflow: Window | undefined;
  readonly #writing = new Set<Promise<void>>();

  constructor(options: SignInLimiterOptions) {
    this.#options = options;
  }

  /** Addresses tracked now (the overflow bucket aside). */
  get tracked(): number {
    return this.#windows.size;
  }

  /**
   * Counts a failed sign-in; returns the seconds to wait when the address is past its limit
   * (answer 429), undefined while it is not (answer 401).
   */
  fail(given: Failure, now = Date.now()): number | undefined {
    const failure = { ...given, ip: limitKey(given.ip) };
    let window = this.#windows.get(failure.ip);
    if (window && window.until <= now) {
      this.#end(window);
      window = undefined;
    }
    if (!window) {
      if (this.#windows.size >= this.#options.maxAddresses) this.sweep(now);
      if (this.#windows.size < this.#options.maxAddresses) {
        window = this.#open(failure, now);
        this.#windows.set(failure.ip, window);
      } else {
        if (this.#overflow && this.#overflow.until <= now) {
          this.#end(this.#overflow);
          this.#overflow = undefined;
        }
        window = this.#overflow ??= { ...this.#open(failure, now), ip: 'overflow', sample: new Set() };
        if (window.sample && window.sample.size < SAMPLE_KEPT) window.sample.add(failure.ip);
      }
    }
    window.count += 1;
    window.last = now;
    if (window.routes.size < ROUTES_KEPT) window.routes.add(failure.route);
    window.reasons.set(failure.reason, (window.reasons.get(failure.reason) ?? 0) + 1);
    return window.count > this.#options.limit
      ? Math.max(1, Math.ceil((window.until - now) / 1000))
      : undefined;
  }

  /** Ends the windows that are over: their summaries go to the audit log. */
  sweep(now = Date.now()): void {
    for (const window of this.#windows.values()) {
      // Windows end in insertion order: the first still running is followed by running ones only.
      if (window.until > now) break;
      this.#end(window);
    }
    if (this.#overflow && this.#overflow.until <= now) {
      this.#end(this.#overflow);
      this.#overflow = undefined;
    }
  }

  /** Ends every window, over or not, and waits for the summaries to be written (on shutdown). */
  async close(): Promise<void> {
    for (const window of this.#windows.values()) this.#end(window);
    if (this.#overflow) this.#end(this.#overflow);
    this.#overflow = undefined;
    await Promise.all(this.#writing);
  }

  #open(failure: Failure, now: number): Window {
    return {
      ip: failure.ip,
      count: 0,
      first: now,
      last: now,
      until: now + this.#options.windowMs,
      routes: new Set(),
      reasons: new Map(),
      requestId: failure.requestId,
    };
  }

  #end(window: Window): void {
    if (this.#windows.get(window.ip) === window) this.#windows.delete(window.ip);
    const summary: SignInFailureSummary = {
      ip: window.ip,
      count: window.count,
      first: new Date(window.first),
      last: new Date(window.last),
      routes: [...window.routes],
      reasons: Object.fromEntries(window.reasons),
      requestId: window.requestId,
      ...(window.sample ? { sample: [...window.sample] } : {}),
    };
    const writing = this.#options.write(summary).finally(() => this.#writing.delete(writing));
    this.#writing.add(writing);
  }
}

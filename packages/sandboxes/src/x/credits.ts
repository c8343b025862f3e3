/**
 * X's pay-per-use economy as the fake plays it: a prepaid balance per app that each priced call
 * draws down by the price table (402 once it cannot pay), and the 24-hour cap on an account's
 * originals and replies, answered in a shape a test can change (X's own is not documented).
 */
import { costOf, DEFAULT_X_PRICES, type XPriceTable } from '@sunset/text';
import type { FastifyRequest } from 'fastify';
import type { Account, Answer } from './model.ts';
import { asRecord } from './protocol.ts';
import type { XState } from './state.ts';

/** The answer when an app's credits are spent, as developers reported X's in 2026. */
export function creditsDepleted(account: Account): Answer {
  return {
    status: 402,
    body: {
      title: 'CreditsDepleted',
      detail: `Your enrolled account [${account.id}] does not have any credits to fulfill this request.`,
      type: 'https://api.x.com/2/problems/credits',
    },
    headers: { 'content-type': 'application/problem+json' },
  };
}

/** The default daily-cap answer: X's "usage cap" problem, with the 24-hour window's headers. */
export const DEFAULT_CAP_ANSWER: { status: number; body: unknown } = {
  status: 429,
  body: {
    title: 'UsageCapExceeded',
    detail: 'Usage cap exceeded: 24-hour post cap for this account.',
    type: 'https://api.x.com/2/problems/usage-capped',
    period: 'Daily',
    scope: 'Account',
  },
};

/** Which priced call a request is, before it runs (reads are priced by what they return). */
function createdText(routeUrl: string, req: FastifyRequest): string | undefined {
  if (routeUrl !== '/2/tweets' || req.method !== 'POST') return undefined;
  const text = asRecord(req.body)?.text;
  return typeof text === 'string' ? text : '';
}

export class Credits {
  prices: XPriceTable = DEFAULT_X_PRICES;
  /** Micro-dollars left per app key; an app without an entry pays nothing. */
  readonly balances = new Map<string, number>();

  /** 402 when the app cannot pay for this request; undefined when it may go on. */
  refusal(appKey: string, routeUrl: string, req: FastifyRequest, account: Account): Answer | undefined {
    const balance = this.balances.get(appKey);
    if (balance === undefined || routeUrl.startsWith('/profile_')) return undefined;
    const text = createdText(routeUrl, req);
    const cost = text === undefined ? 1 : costOf({ kind: 'create', text }, this.prices);
    return balance < cost || balance <= 0 ? creditsDepleted(account) : undefined;
  }

  /** Draws what an answered request cost: a post created, the posts or the user returned. */
  charge(appKey: string, routeUrl: string, req: FastifyRequest, answer: Answer): void {
    const balance = this.balances.get(appKey);
    if (balance === undefined || answer.status >= 400) return;
    let cost = 0;
    const text = createdText(routeUrl, req);
    if (text !== undefined) cost = costOf({ kind: 'create', text }, this.prices);
    else if (routeUrl === '/2/users/:id/tweets' || routeUrl === '/2/tweets/:id') {
      const data = asRecord(answer.body)?.data;
      const count = Array.isArray(data) ? data.length : data ? 1 : 0;
      cost = costOf({ kind: 'read_post', count }, this.prices);
    } else if (routeUrl === '/2/users/me') cost = costOf({ kind: 'read_user' }, this.prices);
    this.balances.set(appKey, Math.max(0, balance - cost));
  }
}

export interface DailyCaps {
  posts: number;
  replies: number;
}

/** The cap answer for a post `account` may not make now, or undefined. */
export function capRefusal(
  state: XState,
  account: Account,
  reply: boolean,
  caps: DailyCaps | undefined,
  answer: { status: number; body: unknown },
): Answer | undefined {
  if (!caps) return undefined;
  const since = Date.now() - 24 * 3600_000;
  const recent = state.posts.filter(
    (p) => p.accountId === account.id && p.createdAt.getTime() > since && !!p.inReplyToId === reply,
  );
  const limit = reply ? caps.replies : caps.posts;
  if (recent.length < limit) return undefined;
  const reset = Math.ceil(((recent[0]?.createdAt.getTime() ?? Date.now()) + 24 * 3600_000) / 1000);
  return {
    status: answer.status,
    body: answer.body,
    headers: {
      'content-type': 'application/problem+json',
      'x-user-limit-24hour-limit': String(limit),
      'x-user-limit-24hour-remaining': '0',
      'x-user-limit-24hour-reset': String(reset),
    },
  };
}

/**
 * One error taxonomy for every network. The worker decides from `kind`, `retryable` and
 * `retryAfterMs` alone; `remoteMessage` is the network's own words for people.
 */
import { SunsetError, type Network } from '@sunset/core';

export type NetworkErrorKind =
  | 'rate-limited'
  | 'auth'
  | 'forbidden'
  | 'invalid-post'
  | 'duplicate'
  | 'transient'
  | 'unknown-outcome'
  | 'not-found'
  | 'credits-exhausted'
  | 'daily-cap';

export interface NetworkErrorDetails {
  network: Network;
  status?: number;
  /** The network's own error message, safe to show (it never carries our secrets). */
  remoteMessage?: string;
  /** For rate limits: when the window resets, from the network's own headers. */
  resetAt?: Date;
  cause?: unknown;
}

export abstract class NetworkError extends SunsetError {
  abstract readonly kind: NetworkErrorKind;
  abstract readonly retryable: boolean;
  readonly network: Network;
  readonly status: number | undefined;
  readonly remoteMessage: string | undefined;
  readonly resetAt: Date | undefined;

  constructor(message: string, details: NetworkErrorDetails) {
    super(
      `network.${new.target.name}`,
      message,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.network = details.network;
    this.status = details.status;
    this.remoteMessage = details.remoteMessage;
    this.resetAt = details.resetAt;
  }

  /** How long to wait before the next attempt, when the network said (rate limits). */
  retryAfterMs(now: number = Date.now()): number | undefined {
    return this.resetAt ? Math.max(0, this.resetAt.getTime() - now) : undefined;
  }
}

/** 429: wait until `resetAt`, then try again. */
export class RateLimitedError extends NetworkError {
  readonly kind = 'rate-limited';
  readonly retryable = true;
}

/** Bad or revoked credentials: a person must fix them. */
export class AuthError extends NetworkError {
  readonly kind = 'auth';
  readonly retryable = false;
}

/** The credentials are fine but the access level does not allow this (e.g. X profile API). */
export class ForbiddenError extends NetworkError {
  readonly kind = 'forbidden';
  readonly retryable = false;
}

/** The network refused the post itself (too long, bad media…): permanent. */
export class InvalidPostError extends NetworkError {
  readonly kind = 'invalid-post';
  readonly retryable = false;
}

/** The network says this post already exists (X duplicate content). */
export class DuplicateError extends NetworkError {
  readonly kind = 'duplicate';
  readonly retryable = false;
}

/** Network errors, 5xx, time-outs before the request was sent or refused: safe to retry. */
export class TransientError extends NetworkError {
  readonly kind = 'transient';
  readonly retryable = true;
}

/**
 * The request may have been applied but no answer came back (connection reset or time-out after
 * sending a post on a network without idempotency keys): reconcile before any retry.
 */
export class UnknownOutcomeError extends NetworkError {
  readonly kind = 'unknown-outcome';
  readonly retryable = false;
}

/** What was asked for does not exist (a record, a status to reply to). */
export class NotFoundError extends NetworkError {
  readonly kind = 'not-found';
  readonly retryable = false;
}

/**
 * X's 402: the app's prepaid credits are spent. No backoff mends it: a person buys credits in X's
 * developer console, then resumes the account's ordinary posts.
 */
export class CreditsExhaustedError extends NetworkError {
  readonly kind = 'credits-exhausted';
  readonly retryable = false;
}

/**
 * The account's 24-hour cap on posts is reached (X's limit for accounts without a verified
 * badge): nothing more goes until `resetAt`, when X says it.
 */
export class DailyCapError extends NetworkError {
  readonly kind = 'daily-cap';
  readonly retryable = false;
}

export function isNetworkError(err: unknown): err is NetworkError {
  return err instanceof NetworkError;
}

/**
 * The one place where what `twitter-api-v2` throws becomes the shared error taxonomy. The worker
 * decides retries from the class alone, so the distinctions that matter are drawn here: a
 * duplicate is not a bad post, an access level is not bad credentials, and a dropped connection
 * after a tweet was sent is not "try again" (X has no idempotency key).
 */
import type { ClientRequest } from 'node:http';
import { ApiPartialResponseError, ApiRequestError, ApiResponseError } from 'twitter-api-v2';
import {
  AuthError,
  CreditsExhaustedError,
  DailyCapError,
  DuplicateError,
  ForbiddenError,
  InvalidPostError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  TransientError,
  UnknownOutcomeError,
} from '../errors.ts';

export interface XErrorContext {
  /** What was being done, for people: "publishing a post". */
  action: string;
  /** The request creates something a blind retry would create twice (POST /2/tweets). */
  creates: boolean;
}

const DUPLICATE = /duplicate content|status is a duplicate/i;
const ACCESS_LEVEL =
  /not permitted|access level|subset of X API|client-not-enrolled|appropriate level of api access/i;
// The 24-hour cap on an account's posts, in the words X has used for it (v2 problem title or
// type, v1.1 code 185 "User is over daily status update limit").
const DAILY_CAP = /usage ?cap|usage-capped|daily (status update|post|tweet)s? (limit|cap)|over daily/i;
const REPLY_TARGET_GONE = /reply to a (tweet|post) that is deleted or not visible/i;
// Failures that happen before a byte of the request can have reached X.
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
}

/** X's own words from an error body, v2 problem or v1.1 `errors`, without duplicates. */
export function xRemoteMessage(data: unknown): string | undefined {
  const body = record(data);
  if (!body) return typeof data === 'string' && data.trim() !== '' ? data.trim().slice(0, 500) : undefined;
  const parts: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === 'string' && value.trim() !== '' && !parts.includes(value)) parts.push(value);
  };
  // The `errors` list names what was wrong; `detail` is X's summary, or its only words.
  if (Array.isArray(body.errors)) for (const e of body.errors) add(record(e)?.message);
  add(body.detail);
  if (parts.length === 0) add(body.title);
  if (parts.length === 0) add(body.error);
  return parts.length === 0 ? undefined : parts.join(' — ');
}

function v1Codes(data: unknown): number[] {
  const errors = record(data)?.errors;
  return Array.isArray(errors)
    ? errors.map((e) => record(e)?.code).filter((c): c is number => typeof c === 'number')
    : [];
}

function rateLimitReset(err: ApiResponseError): Date | undefined {
  const limits = err.rateLimit;
  // When a 24-hour cap is exhausted its reset is the one that counts, not the 15-minute window's.
  const candidates = [limits?.userDay, limits?.day, limits].filter(
    (l): l is { limit: number; remaining: number; reset: number } => !!l && Number.isFinite(l.reset),
  );
  const exhausted = candidates.filter((l) => l.remaining === 0);
  const seconds = Math.max(0, ...(exhausted.length > 0 ? exhausted : candidates).map((l) => l.reset));
  if (seconds > 0) return new Date(seconds * 1000);
  const header = Number(err.headers?.['x-rate-limit-reset']);
  return Number.isFinite(header) && header > 0 ? new Date(header * 1000) : undefined;
}

function errorCode(err: unknown): string | undefined {
  const code = record(err)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether the request can have reached X. A ClientRequest is "finished" once its last byte was
 * handed to the operating system: from then on X may have acted on it, whatever came back.
 */
export function requestMayHaveArrived(request: ClientRequest | undefined, cause: unknown): boolean {
  const code = errorCode(cause);
  if (code !== undefined && (NOT_SENT_CODES.has(code) || code.startsWith('ERR_TLS_'))) return false;
  return request?.writableFinished === true;
}

/**
 * The network error under an ApiRequestError. The library stores it as `error` but its getter
 * reads `requestError`, so the getter is always undefined in 1.29: read both.
 */
function requestCause(err: ApiRequestError): unknown {
  const options: unknown = Reflect.get(err, '_options');
  return err.requestError ?? record(options)?.error;
}

function describeCause(cause: unknown): string {
  const code = errorCode(cause);
  const name = record(cause)?.name;
  if (name === 'AbortError' || name === 'TimeoutError' || code === 'ABORT_ERR')
    return 'timed out or was cancelled';
  return code ? `failed (${code})` : 'failed without an answer';
}

/** Maps what the client threw; anything that is not a client error is returned unchanged. */
export function mapXError(err: unknown, context: XErrorContext): unknown {
  if (err instanceof NetworkError) return err;
  const { action, creates } = context;

  if (err instanceof ApiResponseError) {
    const status = err.code;
    const remoteMessage = xRemoteMessage(err.data);
    const said = remoteMessage ? `: ${remoteMessage}` : '';
    const details = { network: 'x' as const, status, ...(remoteMessage ? { remoteMessage } : {}) };
    if (status === 402) {
      return new CreditsExhaustedError(
        `X credits exhausted: buy credits in X's developer console (402 while ${action}${said})`,
        details,
      );
    }
    const body = record(err.data);
    const label = `${String(body?.title ?? '')} ${String(body?.type ?? '')} ${remoteMessage ?? ''}`;
    if ((status === 429 || status === 403) && (DAILY_CAP.test(label) || v1Codes(err.data).includes(185))) {
      const resetAt = rateLimitReset(err);
      return new DailyCapError(
        `X's daily post cap for this account is reached (${action})${resetAt ? `, until ${resetAt.toISOString()}` : ''}${said}`,
        { ...details, ...(resetAt ? { resetAt } : {}) },
      );
    }
    if (status === 429) {
      const resetAt = rateLimitReset(err);
      return new RateLimitedError(
        `X rate limit reached while ${action}${resetAt ? `, until ${resetAt.toISOString()}` : ''}`,
        { ...details, ...(resetAt ? { resetAt } : {}) },
      );
    }
    if (status === 401)
      return new AuthError(`X refused the credentials while ${action} (401${said})`, details);
    if (status === 403) {
      const text = `${remoteMessage ?? ''} ${String(record(err.data)?.reason ?? '')}`;
      const codes = v1Codes(err.data);
      if (DUPLICATE.test(text) || codes.includes(187)) {
        return new DuplicateError(`X already has a post with this text (${action})${said}`, details);
      }
      if (codes.includes(453) || ACCESS_LEVEL.test(text)) {
        return new ForbiddenError(`The X access level does not allow ${action}${said}`, details);
      }
      if (REPLY_TARGET_GONE.test(text)) {
        return new NotFoundError(`The X post to reply to is gone or hidden (${action})${said}`, details);
      }
      return new InvalidPostError(`X refused ${action} (403${said})`, details);
    }
    if (status === 404) return new NotFoundError(`X found nothing while ${action} (404${said})`, details);
    if (status === 408 || status >= 500) {
      return new TransientError(`X failed while ${action} (${status}${said})`, details);
    }
    return new InvalidPostError(`X refused ${action} (${status}${said})`, details);
  }

  if (err instanceof ApiPartialResponseError) {
    // An answer began and broke off: the request arrived, its effect is unknown.
    const status = err.response.statusCode;
    const details = { network: 'x' as const, ...(status ? { status } : {}) };
    return creates
      ? new UnknownOutcomeError(
          `The answer from X broke off while ${action}: reconcile before retrying`,
          details,
        )
      : new TransientError(`The answer from X broke off while ${action}`, details);
  }

  if (err instanceof ApiRequestError) {
    const cause = requestCause(err);
    const details = { network: 'x' as const, ...(cause === undefined ? {} : { cause }) };
    const what = describeCause(cause);
    if (creates && requestMayHaveArrived(err.request, cause)) {
      return new UnknownOutcomeError(
        `The request to X ${what} after it was sent (${action}): it may have been applied, reconcile before retrying`,
        details,
      );
    }
    return new TransientError(`The request to X ${what} (${action})`, details);
  }

  if (err instanceof Error && /^Media processing failed/.test(err.message)) {
    return new InvalidPostError(`X could not process an image (${action}): ${err.message}`, { network: 'x' });
  }
  return err;
}

/**
 * The one place where what `@atproto/api` throws becomes the toolkit's error taxonomy. Messages
 * are built from the action and the server's own words only: never from a request, so no
 * password or token can reach them.
 */
import { XRPCError } from '@atproto/api';
import {
  AuthError,
  ForbiddenError,
  InvalidPostError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  TransientError,
} from '../errors.ts';

const network = 'bluesky';

/** Error names with which the PDS (or the entryway) says the credentials or session are bad. */
const AUTH_ERRORS = new Set([
  'AuthenticationRequired',
  'ExpiredToken',
  'InvalidToken',
  'InvalidDID',
  'AccountTakedown',
  'AuthFactorTokenRequired',
]);
const NOT_FOUND_ERRORS = new Set(['RecordNotFound', 'RepoNotFound', 'BlobNotFound', 'HandleNotFound']);

/** `ResponseType.Unknown` and `InvalidResponse`: the request failed below HTTP, or the answer was garbled. */
const NO_HTTP_ANSWER = new Set([1, 2]);

/** The 429's `ratelimit-reset`, Unix seconds, as the PDS and the entryway send it. */
function resetAtFrom(headers: Record<string, string | undefined> | undefined): Date | undefined {
  const raw = headers?.['ratelimit-reset'];
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000) : undefined;
}

/** The request never got an HTTP answer: refused, reset, timed out or aborted. */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof XRPCError) return NO_HTTP_ANSWER.has(err.status);
  if (err instanceof Error) {
    return err.name === 'AbortError' || err.name === 'TimeoutError' || err instanceof TypeError;
  }
  return false;
}

/** Whether the session or the credentials were refused (as opposed to a network failure). */
export function isAuthFailure(err: unknown): boolean {
  if (err instanceof AuthError) return true;
  return err instanceof XRPCError && (err.status === 401 || AUTH_ERRORS.has(err.error ?? ''));
}

export function isNotFound(err: unknown): boolean {
  return err instanceof XRPCError && (err.status === 404 || NOT_FOUND_ERRORS.has(err.error ?? ''));
}

/**
 * Maps anything a Bluesky call threw. `action` says what was being done ("create the post").
 * Errors that are not about the network (a bug) are returned unchanged.
 */
export function mapBlueskyError(err: unknown, action: string): unknown {
  if (err instanceof NetworkError) return err;
  if (err instanceof XRPCError) {
    // `message` is the server's text when it sent an XRPC error body, else a generic phrase.
    const remoteMessage = err.error ? err.message : undefined;
    const said = remoteMessage ? `: ${remoteMessage}` : '';
    const details = { network, status: err.status, remoteMessage, cause: err } as const;
    if (err.status === 429) {
      const resetAt = resetAtFrom(err.headers);
      return new RateLimitedError(
        `Bluesky rate limit reached while trying to ${action}${resetAt ? ` (resets ${resetAt.toISOString()})` : ''}`,
        { ...details, resetAt },
      );
    }
    if (isAuthFailure(err)) {
      return new AuthError(
        `Bluesky refused the credentials or session while trying to ${action}${said}`,
        details,
      );
    }
    if (err.status === 403)
      return new ForbiddenError(`Bluesky forbade an attempt to ${action}${said}`, details);
    if (isNotFound(err))
      return new NotFoundError(`Bluesky could not find what was needed to ${action}${said}`, details);
    if (NO_HTTP_ANSWER.has(err.status)) {
      return new TransientError(`No answer from Bluesky while trying to ${action}`, {
        ...details,
        status: undefined,
        remoteMessage: undefined,
      });
    }
    if (err.status >= 500) return new TransientError(`Bluesky failed to ${action}${said}`, details);
    // A concurrent change of the same record (profile swap): trying again is the remedy.
    if (err.error === 'InvalidSwap') return new TransientError(`Bluesky could not ${action}${said}`, details);
    if (err.status >= 400) return new InvalidPostError(`Bluesky refused to ${action}${said}`, details);
    return new TransientError(`Bluesky gave an unexpected answer while trying to ${action}`, details);
  }
  if (isConnectionFailure(err)) {
    return new TransientError(`No answer from Bluesky while trying to ${action}`, { network, cause: err });
  }
  return err;
}

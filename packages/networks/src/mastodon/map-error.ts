/**
 * The one place where what `masto` 8 throws becomes the toolkit's error taxonomy.
 *
 * What masto throws (read from its source, dist/adapters/http/http-native-impl.js), and what
 * patches/mastodon-http.ts, which carries the JSON requests, throws alike:
 * - `MastoHttpError` for a non-2xx JSON answer: `.statusCode`, `.message` (the server's `error`
 *   text), and `.cause`, the fetch `Response`, whose headers carry x-ratelimit-reset;
 * - `MastoTimeoutError` when the client's `timeout` fires;
 * - on a refused or reset connection, fetch's own `TypeError('fetch failed')` (cause: undici's
 *   socket error; media uploads) or mastodon-http.ts's `MastodonConnectionError` (cause: the socket error);
 * - a `TypeError` about destructuring `undefined` when the error answer is an HTML page (a reverse
 *   proxy's 502): masto reads the page as "no data" and fails on it, without the status;
 * - `MastoUnexpectedError` / `MastoDeserializeError` for other answers it cannot read.
 * Messages never carry the access token: it is only in the request's Authorization header,
 * which none of these errors reference.
 */
import { MastoDeserializeError, MastoHttpError, MastoTimeoutError, MastoUnexpectedError } from 'masto';
import {
  AuthError,
  ForbiddenError,
  InvalidPostError,
  isNetworkError,
  NotFoundError,
  RateLimitedError,
  TransientError,
  type NetworkError,
  type NetworkErrorDetails,
} from '../errors.ts';
import { MastodonConnectionError, MastodonRedirectError } from '../patches/mastodon-http.ts';

const network = 'mastodon' as const;

/** Mastodon sends x-ratelimit-reset as an ISO 8601 date; some compatible servers send seconds. */
export function parseReset(value: string | null | undefined, now = Date.now()): Date | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const seconds = Number(trimmed);
    // A Unix time (seconds since 1970) or, when small, seconds from now.
    return new Date(seconds > 1e9 ? seconds * 1000 : now + seconds * 1000);
  }
  const time = Date.parse(trimmed);
  return Number.isNaN(time) ? undefined : new Date(time);
}

/** The error for an HTTP answer with this status (API calls and image downloads alike). */
export function errorFromStatus(
  status: number,
  action: string,
  remoteMessage: string | undefined,
  headers: Headers | undefined,
  cause?: unknown,
): NetworkError {
  const said = remoteMessage ? `: ${remoteMessage}` : '';
  const details: NetworkErrorDetails = {
    network,
    status,
    ...(remoteMessage ? { remoteMessage } : {}),
    ...(cause === undefined ? {} : { cause }),
  };
  if (status === 429) {
    const resetAt = parseReset(headers?.get('x-ratelimit-reset'));
    return new RateLimitedError(
      `Mastodon rate limit reached (429) while trying to ${action}` +
        (resetAt ? `; it resets at ${resetAt.toISOString()}` : ''),
      { ...details, ...(resetAt ? { resetAt } : {}) },
    );
  }
  if (status === 401) {
    return new AuthError(`Mastodon did not accept the access token (401) to ${action}${said}`, details);
  }
  if (status === 403) {
    return new ForbiddenError(`Mastodon does not allow this account to ${action} (403)${said}`, details);
  }
  if (status === 404 || status === 410) {
    return new NotFoundError(
      `Mastodon could not find what is needed to ${action} (${status})${said}`,
      details,
    );
  }
  if (status >= 500 || status < 400) {
    return new TransientError(`Mastodon failed to ${action} (${status})${said}`, details);
  }
  // 422 (validation), 400 (bad parameter), 413 (too large)…: the request itself is refused.
  return new InvalidPostError(`Mastodon refused to ${action} (${status})${said}`, details);
}

function socketCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    current = current.cause;
  }
  return undefined;
}

/**
 * True when no readable answer came back: the request may or may not have been applied.
 * (A connection refused before sending also lands here: fetch does not say which.)
 */
export function isOutcomeUnknown(err: unknown): boolean {
  if (err instanceof MastoTimeoutError || err instanceof MastodonConnectionError) return true;
  if (err instanceof MastoUnexpectedError || err instanceof MastoDeserializeError) return true;
  if (err instanceof DOMException) return err.name === 'TimeoutError';
  if (err instanceof TypeError) {
    return err.message === 'fetch failed' || err.message.includes('destructure');
  }
  return false;
}

/** Maps anything a Mastodon call threw; errors of our own (bugs) are returned unchanged. */
export function toNetworkError(err: unknown, action: string): Error {
  if (isNetworkError(err)) return err;
  if (err instanceof MastodonRedirectError) {
    return new NotFoundError(
      `Mastodon answered ${err.status} to ${action}: the API is at ${err.location ?? 'another address'}; ` +
        "set the plan's Mastodon instance to the address it answers at",
      { network, status: err.status, cause: err },
    );
  }
  if (err instanceof MastoHttpError) {
    const headers = err.cause instanceof Response ? err.cause.headers : undefined;
    return errorFromStatus(err.statusCode, action, err.message || undefined, headers);
  }
  if (err instanceof MastoTimeoutError || (err instanceof DOMException && err.name === 'TimeoutError')) {
    return new TransientError(`Mastodon did not answer in time to ${action}`, { network, cause: err });
  }
  if (isOutcomeUnknown(err)) {
    const code = socketCode(err);
    const what =
      (err instanceof TypeError && err.message === 'fetch failed') || err instanceof MastodonConnectionError
        ? `the connection failed${code ? ` (${code})` : ''}`
        : 'the answer could not be read (not JSON: a proxy error page?)';
    return new TransientError(`Mastodon: ${what} while trying to ${action}`, { network, cause: err });
  }
  if (err instanceof DOMException && err.name === 'AbortError') {
    return new TransientError(`Mastodon: the request to ${action} was aborted`, { network, cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

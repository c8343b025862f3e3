/**
 * For tests: the sandbox's traffic checked against the Mastodon OpenAPI spec, so the fake cannot
 * drift from the real API unnoticed. Not exported from the package.
 */
import { checkExchange, type LoadedSpec } from '../spec/openapi.ts';
import type { ReceivedRequest } from './sandbox.ts';

/**
 * Which exchanges the spec describes. Left out: static files (/system/…, missing.png), which are not API; a
 * reset, which has no answer; a 500 or a proxy's 502 page, failures outside the application that
 * the spec does not list; and 403, which Doorkeeper answers on any endpoint when a token lacks
 * the scope, while the spec lists it for a few endpoints only.
 */
export function describedBySpec(r: ReceivedRequest): boolean {
  return (
    r.status !== undefined &&
    !r.path.startsWith('/system/') &&
    !r.path.endsWith('/missing.png') &&
    r.status !== 403 &&
    !(r.fault === 'status' && (r.status === 500 || r.status === 502))
  );
}

/** One sentence per difference between the spec and what the sandbox received or answered. */
export function specProblems(spec: LoadedSpec, received: readonly ReceivedRequest[]): string[] {
  return received.filter(describedBySpec).flatMap((r) =>
    checkExchange(spec, {
      method: r.method,
      path: r.path,
      query: r.query,
      headers: r.headers,
      body: r.body,
      status: r.status ?? 0,
      responseHeaders: r.responseHeaders,
      responseBody: r.responseBody,
    }),
  );
}

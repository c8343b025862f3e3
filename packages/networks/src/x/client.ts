/**
 * The `twitter-api-v2` client as the connector uses it: every request, whatever host the library
 * has hard-coded for it (api.x.com for v2 and v1.1, upload.x.com for v1.1 media, their
 * twitter.com twins), goes to one configurable https base; an extra CA can be trusted; each
 * request has a deadline and follows the caller's AbortSignal. Tests use it to drive the real
 * client against the sandbox.
 *
 * The library has no base-URL setting: its prefixes are constants. Its supported extension
 * point is a client plugin; `onBeforeRequestConfig` may rewrite the request's URL and runs
 * before the OAuth signature is computed, so the signature covers the URL actually requested.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';
import { InputError, type Logger } from '@sunset/core';
import { TwitterApi, type ITwitterApiClientPlugin } from 'twitter-api-v2';
import { installFastSigning } from '../patches/x-signing.ts';

export const X_DEFAULT_API_BASE = 'https://api.x.com';
export const X_DEFAULT_TIMEOUT_MS = 30_000;
const X_HOSTS = new Set(['api.x.com', 'upload.x.com', 'api.twitter.com', 'upload.twitter.com']);

export interface XClientOptions {
  /** Already revealed: the caller reveals secrets once, at construction. */
  tokens: { appKey: string; appSecret: string; accessToken: string; accessSecret: string };
  apiBase?: string;
  ca?: string;
  timeoutMs?: number;
  logger?: Logger;
  /** Extra plugins after the routing one (tests use one to tamper with a signed request). */
  plugins?: ITwitterApiClientPlugin[];
}

export interface XClient {
  client: TwitterApi;
  /** The https agent of the API requests. */
  agent: Agent;
  timeoutMs: number;
  /** Runs `fn` with `signal` applied to every request it makes. */
  withSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T>;
}

/**
 * One keep-alive agent per trusted CA for the whole process, shared by every X client: the
 * connections to X's API and their TLS sessions then serve every organisation, and outlive the
 * connectors that a plan change rebuilds, instead of each new connector opening (and each burst
 * of a new organisation handshaking) its own. Idle connections are closed by X's side, and never
 * keep the process alive.
 */
const agents = new Map<string, Agent>();
function sharedAgent(ca: string | undefined): Agent {
  let agent = agents.get(ca ?? '');
  if (!agent) {
    // `ca` replaces the default trust store: keep the public roots beside the extra certificate.
    // Built once as a secure context: given as `ca`, the agent would fold all of the roots' text
    // into its connection-pool key on every request and parse them again for every connection.
    const secureContext = ca ? createSecureContext({ ca: [...rootCertificates, ca] }) : undefined;
    agent = new Agent({ keepAlive: true, ...(secureContext ? { secureContext } : {}) });
    agents.set(ca ?? '', agent);
  }
  return agent;
}

export function createXClient(options: XClientOptions): XClient {
  installFastSigning(options.logger);
  const timeoutMs = options.timeoutMs ?? X_DEFAULT_TIMEOUT_MS;
  const base = new URL(options.apiBase ?? X_DEFAULT_API_BASE);
  if (base.protocol !== 'https:') {
    // The library speaks https only: an http base would fail on every request, obscurely.
    throw new InputError(`The X API base must be an https URL, not ${base.href}`);
  }
  const basePath = base.pathname.replace(/\/+$/, '');
  const agent = sharedAgent(options.ca);
  const scope = new AsyncLocalStorage<AbortSignal | undefined>();

  const routing: ITwitterApiClientPlugin = {
    onBeforeRequestConfig({ params }) {
      const url = new URL(params.url);
      if (!X_HOSTS.has(url.hostname)) return;
      // The library picks the body encoding from the host and path: keep the choice it makes for
      // the original URL, which a different host or a path prefix would change.
      if (params.forceBodyMode === undefined) {
        if (url.pathname.startsWith('/2/')) params.forceBodyMode = 'json';
        else if (url.hostname.startsWith('upload.')) {
          params.forceBodyMode = url.pathname === '/1.1/media/upload.json' ? 'form-data' : 'json';
        }
      }
      params.url = `${base.origin}${basePath}${url.pathname}${url.search}`;
    },
    // After signing: only transport options change here. The library's own `timeout` is an idle
    // timer on the socket; this deadline bounds the whole exchange.
    onBeforeRequest({ requestOptions }) {
      const caller = scope.getStore();
      const deadline = AbortSignal.timeout(timeoutMs);
      requestOptions.signal = caller ? AbortSignal.any([caller, deadline]) : deadline;
    },
    onAfterRequest({ computedParams, response }) {
      options.logger?.trace(
        {
          method: computedParams.method,
          path: computedParams.url.pathname,
          remaining: response.rateLimit?.remaining,
        },
        'x request',
      );
    },
  };

  const client = new TwitterApi(options.tokens, {
    httpAgent: agent,
    plugins: [routing, ...(options.plugins ?? [])],
  });
  return {
    client,
    agent,
    timeoutMs,
    withSignal: (signal, fn) => scope.run(signal, fn),
  };
}

/**
 * A local X API over https for tests and the demo: the endpoints the X connector uses, with X's
 * own rules (OAuth 1.0a signatures, weighted text length, duplicate refusal, media lifecycle,
 * profile limits, access levels) and X's own answers (status codes, bodies, rate-limit headers,
 * t.co links and HTML escaping in returned text), plus injectable faults. It is driven through
 * the real `twitter-api-v2` client, so it speaks https only: the certificate is generated at
 * start and its PEM is handed to the client's agent.
 *
 * This file is the server: routes, the request pipeline (record, fault, OAuth check, answer);
 * what each endpoint does is in posts.ts, media.ts and users.ts, the faults in faults.ts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import multipart from '@fastify/multipart';
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { generate } from 'selfsigned';
import type { XPriceTable } from '@sunset/text';
import { capRefusal, Credits, DEFAULT_CAP_ANSWER, type DailyCaps } from './credits.ts';
import { FaultQueue, rateLimited, serverError } from './faults.ts';
import { appendUpload, finalizeUpload, initializeUpload, mediaMetadata, uploadStatus } from './media.ts';
import {
  isUploadedFile,
  type Account,
  type Answer,
  type UploadedFile,
  type XAccessSwitch,
  type XSandbox,
  type XSandboxAccountInput,
  type XSandboxExchange,
  type XSandboxFault,
  type XSandboxInjectOptions,
  type XSandboxMedia,
  type XSandboxOptions,
  type XSandboxPost,
  type XSandboxProfile,
} from './model.ts';
import { formPairs, verifyOAuthRequest, type OAuthCheck } from './oauth1.ts';
import { createTweet, getTweet, userTweets } from './posts.ts';
import { invalidRequest, isV2, POST_FIELDS, problem, v1Error } from './protocol.ts';
import { XState } from './state.ts';
import {
  addAccount,
  profileGate,
  serveAvatar,
  serveBanner,
  updateBanner,
  updateImage,
  updateProfile,
  userV1,
  userV2,
} from './users.ts';

type Handler = (req: FastifyRequest, account: Account) => Answer | Promise<Answer>;
type RouteHandler = { auth: true; run: Handler } | { auth: false; run: (req: FastifyRequest) => Answer };

const EXPANSION_FIELDS = ['expansions', 'user.fields', 'media.fields', 'poll.fields', 'place.fields'];
/** The query parameters each v2 endpoint takes: X answers 400 to any other. */
const V2_QUERY: Record<string, readonly string[]> = {
  '/2/tweets': [],
  '/2/tweets/:id': [...POST_FIELDS, ...EXPANSION_FIELDS],
  '/2/users/me': [...POST_FIELDS, 'expansions', 'user.fields'],
  '/2/users/:id/tweets': [
    'max_results',
    'pagination_token',
    'start_time',
    'end_time',
    'since_id',
    'until_id',
    'exclude',
    ...POST_FIELDS,
    ...EXPANSION_FIELDS,
  ],
  '/2/media/upload': ['command', 'media_id'],
};

function unauthorized(path: string, check: Exclude<OAuthCheck, { ok: true }>): Answer {
  if (isV2(path)) return problem(401, 'Unauthorized', 'Unauthorized');
  if (check.reason === 'unknown-token') return v1Error(401, 89, 'Invalid or expired token.');
  if (check.reason === 'stale') return v1Error(401, 135, 'Timestamp out of bounds.');
  return v1Error(401, 32, 'Could not authenticate you.');
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function summarise(body: unknown): unknown {
  if (typeof body === 'string') return Object.fromEntries(formPairs(body));
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      out[key] = isUploadedFile(value)
        ? { filename: value.filename, mimetype: value.mimetype, size: value.data.length }
        : value;
    }
    return out;
  }
  return body;
}

class Sandbox implements XSandbox {
  readonly received: XSandboxExchange[] = [];
  readonly ca: string;
  readonly #key: string;
  readonly #app: FastifyInstance;
  readonly #state: XState;
  readonly #faults = new FaultQueue();
  readonly #credits = new Credits();
  readonly #caps = new Map<string, DailyCaps>();
  capAnswer: { status: number; body: unknown } = DEFAULT_CAP_ANSWER;
  readonly #nonces = new Map<string, number>();
  readonly #closing = new AbortController();
  #stopped: Promise<void> | undefined;
  connections = 0;

  constructor(pems: { cert: string; private: string }, options: XSandboxOptions) {
    this.ca = pems.cert;
    this.#key = pems.private;
    this.#state = new XState(options);
    this.#app = fastify({
      https: { key: this.#key, cert: this.ca },
      logger: false,
      // Media chunks are 1 MiB plus the multipart envelope.
      bodyLimit: 8 * 1024 * 1024,
      // A test that stops the sandbox must not wait for a request held by a latency fault.
      forceCloseConnections: true,
    });
  }

  get url(): string {
    return this.#state.url;
  }

  get posts(): XSandboxPost[] {
    return this.#state.posts;
  }

  get profileApi(): XAccessSwitch {
    return this.#state.profileApi;
  }

  set profileApi(value: XAccessSwitch) {
    this.#state.profileApi = value;
  }

  get timelineApi(): XAccessSwitch {
    return this.#state.timelineApi;
  }

  set timelineApi(value: XAccessSwitch) {
    this.#state.timelineApi = value;
  }

  get mediaProcessing(): 'sync' | 'async' {
    return this.#state.mediaProcessing;
  }

  set mediaProcessing(value: 'sync' | 'async') {
    this.#state.mediaProcessing = value;
  }

  get profile(): XSandboxProfile | undefined {
    return this.#state.accounts[0]?.profile;
  }

  profileOf(accountId: string): XSandboxProfile | undefined {
    return this.#state.accounts.find((a) => a.id === accountId)?.profile;
  }

  media(id: string): XSandboxMedia | undefined {
    const record = this.#state.media.get(id);
    if (!record) return undefined;
    const { chunks: _chunks, readyAt: _readyAt, ...media } = record;
    return media;
  }

  addAccount(input: XSandboxAccountInput): void {
    addAccount(this.#state, input);
  }

  setCredits(appKey: string, dollars: number | undefined): void {
    if (dollars === undefined) this.#credits.balances.delete(appKey);
    else this.#credits.balances.set(appKey, Math.round(dollars * 1_000_000));
  }

  credits(appKey: string): number | undefined {
    const micros = this.#credits.balances.get(appKey);
    return micros === undefined ? undefined : micros / 1_000_000;
  }

  get prices(): XPriceTable {
    return this.#credits.prices;
  }

  set prices(value: XPriceTable) {
    this.#credits.prices = value;
  }

  setFollowers(accountId: string, followers: number): void {
    const account = this.#state.accounts.find((a) => a.id === accountId);
    if (!account) throw new Error(`no account ${accountId}`);
    account.followers = followers;
  }

  setDailyCaps(accountId: string, caps: DailyCaps | undefined): void {
    if (caps) this.#caps.set(accountId, caps);
    else this.#caps.delete(accountId);
  }

  inject(fault: XSandboxFault, options: XSandboxInjectOptions = {}): void {
    this.#faults.inject(fault, options);
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  async start(): Promise<void> {
    const app = this.#app;
    // Form bodies are kept raw: their parameters are part of the OAuth signature.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
      done(null, body),
    );
    await app.register(multipart, {
      attachFieldsToBody: 'keyValues',
      async onFile(part) {
        // The client names no file ("form-data; name=media"): kept as an empty name.
        const value: UploadedFile = {
          data: await part.toBuffer(),
          filename: part.filename ?? '',
          mimetype: part.mimetype,
        };
        part.value = value;
      },
      limits: { fileSize: 8 * 1024 * 1024, files: 2, fields: 20 },
    });
    app.setNotFoundHandler((req, reply) =>
      this.#handle(req, reply, {
        auth: false,
        run: () => v1Error(404, 34, 'Sorry, that page does not exist'),
      }),
    );
    app.setErrorHandler((error: { statusCode?: number; message: string }, req, reply) => {
      const status =
        error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
      const answer = isV2(req.url) ? invalidRequest(error.message) : v1Error(status, 38, error.message);
      return this.#finish(reply, this.#exchange(req), { ...answer, status }, undefined);
    });

    const route = (method: 'GET' | 'POST', url: string, run: Handler) =>
      app.route({ method, url, handler: (req, reply) => this.#handle(req, reply, { auth: true, run }) });
    const publicRoute = (url: string, run: (req: FastifyRequest) => Answer) =>
      app.route({
        method: 'GET',
        url,
        handler: (req, reply) => this.#handle(req, reply, { auth: false, run }),
      });
    route('POST', '/2/tweets', (req, account) => createTweet(this.#state, req, account));
    route('GET', '/2/tweets/:id', (req) => getTweet(this.#state, req));
    route('GET', '/2/users/me', (req, account) => ({
      status: 200,
      body: { data: userV2(this.#state, account, req) },
    }));
    route('GET', '/2/users/:id/tweets', (req) => userTweets(this.#state, req));
    route('POST', '/2/media/upload/initialize', (req, account) =>
      initializeUpload(this.#state, req, account),
    );
    route('POST', '/2/media/upload/:id/append', (req, account) => appendUpload(this.#state, req, account));
    route('POST', '/2/media/upload/:id/finalize', (req, account) =>
      finalizeUpload(this.#state, req, account),
    );
    route('GET', '/2/media/upload', (req, account) => uploadStatus(this.#state, req, account));
    route('POST', '/2/media/metadata', (req, account) => mediaMetadata(this.#state, req, account));
    route(
      'GET',
      '/1.1/account/verify_credentials.json',
      (_req, account) => profileGate(this.#state) ?? { status: 200, body: userV1(this.#state, account) },
    );
    route('POST', '/1.1/account/update_profile.json', (req, account) =>
      updateProfile(this.#state, req, account),
    );
    route('POST', '/1.1/account/update_profile_image.json', (req, account) =>
      updateImage(this.#state, req, account),
    );
    route('POST', '/1.1/account/update_profile_banner.json', (req, account) =>
      updateBanner(this.#state, req, account),
    );
    // Images are public (pbs.twimg.com on X): no signature.
    publicRoute('/profile_images/:uid/:file', (req) => serveAvatar(this.#state, req));
    publicRoute('/profile_banners/:uid/:stamp', (req) => serveBanner(this.#state, req));
    publicRoute('/profile_banners/:uid/:stamp/:size', (req) => serveBanner(this.#state, req));

    await app.listen({ host: '127.0.0.1', port: 0 });
    app.server.on('secureConnection', () => (this.connections += 1));
    const address = app.server.address() as AddressInfo;
    this.#state.url = `https://127.0.0.1:${address.port}`;
  }

  stop(): Promise<void> {
    // Requests held by a latency fault end now rather than keep the process alive.
    this.#closing.abort();
    this.#stopped ??= this.#app.close();
    return this.#stopped;
  }

  // ---- request pipeline -------------------------------------------------------------------

  #exchange(req: FastifyRequest): XSandboxExchange {
    const url = new URL(req.url, 'https://sandbox.invalid');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      const single = singleHeader(value);
      if (name !== 'authorization' && single !== undefined) headers[name] = single;
    }
    const exchange: XSandboxExchange = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: summarise(req.body),
      status: undefined,
      responseHeaders: {},
      responseBody: undefined,
      time: new Date(),
    };
    this.received.push(exchange);
    return exchange;
  }

  async #handle(req: FastifyRequest, reply: FastifyReply, route: RouteHandler) {
    const exchange = this.#exchange(req);
    const fault = this.#faults.take(req.method, exchange.path);
    if (fault) exchange.fault = fault.kind;
    if (fault?.kind === 'latency' || fault?.kind === 'latency-of') {
      const ms = fault.kind === 'latency' ? fault.ms : fault.ms(textOfBody(req.body));
      await delay(ms, undefined, { signal: this.#closing.signal }).catch(() => undefined);
      if (this.#closing.signal.aborted) return this.#destroy(req, reply);
    }
    if (fault?.kind === 'hold') {
      const closing = this.#closing.signal;
      if (!closing.aborted) {
        await Promise.race([
          fault.until.catch(() => undefined),
          new Promise((resolve) => closing.addEventListener('abort', resolve, { once: true })),
        ]);
      }
      if (closing.aborted) return this.#destroy(req, reply);
    }
    if (fault?.kind === 'reset') return this.#destroy(req, reply);
    if (fault?.kind === 'status') {
      return this.#finish(reply, exchange, serverError(exchange.path, fault.status), undefined);
    }
    if (fault?.kind === 'rate-limit') {
      return this.#finish(reply, exchange, rateLimited(exchange.path, fault.resetInSeconds), undefined);
    }

    let account: Account | undefined;
    let answer: Answer;
    if (route.auth) {
      const check = this.#verify(req, exchange.path);
      if (!check.ok) return this.#finish(reply, exchange, unauthorized(exchange.path, check), undefined);
      account = this.#accountFor(check.consumerKey, check.token);
      const routeUrl = req.routeOptions.url ?? '';
      const refusal =
        this.#unknownQuery(req, exchange) ??
        this.#credits.refusal(check.consumerKey, routeUrl, req, account) ??
        this.#capped(req, routeUrl, account);
      answer = refusal ?? (await route.run(req, account));
      if (!refusal) this.#credits.charge(check.consumerKey, routeUrl, req, answer);
    } else {
      answer = route.run(req);
    }
    if (fault?.kind === 'lost-reply') return this.#destroy(req, reply);
    return this.#finish(reply, exchange, answer, account);
  }

  #capped(req: FastifyRequest, routeUrl: string, account: Account): Answer | undefined {
    if (routeUrl !== '/2/tweets' || req.method !== 'POST') return undefined;
    const body = req.body as { reply?: unknown } | undefined;
    return capRefusal(
      this.#state,
      account,
      body?.reply !== undefined,
      this.#caps.get(account.id),
      this.capAnswer,
    );
  }

  #unknownQuery(req: FastifyRequest, exchange: XSandboxExchange): Answer | undefined {
    const allowed = isV2(exchange.path) ? V2_QUERY[req.routeOptions.url ?? ''] : undefined;
    if (!allowed) return undefined;
    for (const [name, value] of Object.entries(exchange.query)) {
      if (allowed.includes(name)) continue;
      return invalidRequest(`The query parameter [${name}] is not one of [${allowed.join(',')}]`, {
        [name]: [value],
      });
    }
    return undefined;
  }

  #destroy(req: FastifyRequest, reply: FastifyReply): void {
    reply.hijack();
    req.raw.socket.destroy();
  }

  #finish(
    reply: FastifyReply,
    exchange: XSandboxExchange,
    answer: Answer,
    account: Account | undefined,
  ): FastifyReply {
    const headers: Record<string, string> = { ...this.#rateHeaders(account), ...answer.headers };
    if (answer.body !== undefined && headers['content-type'] === undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
    }
    exchange.status = answer.status;
    exchange.responseHeaders = headers;
    exchange.responseBody = answer.raw ? { bytes: answer.raw.length } : answer.body;
    reply.code(answer.status).headers(headers);
    if (answer.raw) return reply.send(answer.raw);
    if (answer.body === undefined) return reply.send();
    return reply.send(JSON.stringify(answer.body));
  }

  #rateHeaders(account: Account | undefined): Record<string, string> {
    if (!account) return {};
    // X sends the window on every answer; the sandbox does not count, faults stand for limits.
    return {
      'x-rate-limit-limit': '900',
      'x-rate-limit-remaining': '899',
      'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + 900),
    };
  }

  #verify(req: FastifyRequest, path: string): OAuthCheck {
    const rawUrl = req.raw.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const contentType = req.headers['content-type'] ?? '';
    const now = Date.now();
    // Nonces are kept in the order they were seen, so the expired ones are the first few.
    for (const [key, at] of this.#nonces) {
      if (now - at <= 10 * 60_000) break;
      this.#nonces.delete(key);
    }
    return verifyOAuthRequest(
      {
        method: req.method,
        scheme: 'https',
        host: req.headers.host ?? '',
        path,
        rawQuery: queryAt === -1 ? '' : rawUrl.slice(queryAt + 1),
        ...(contentType.startsWith('application/x-www-form-urlencoded') && typeof req.body === 'string'
          ? { rawFormBody: req.body }
          : {}),
        authorization: req.headers.authorization,
      },
      {
        consumerSecret: (key) => this.#state.appSecrets.get(key),
        tokenSecret: (key, token) => this.#state.tokens.get(`${key}\u0000${token}`)?.secret,
      },
      {
        now,
        seenNonce: (key) => {
          if (this.#nonces.has(key)) return true;
          this.#nonces.set(key, now);
          return false;
        },
      },
    );
  }

  #accountFor(consumerKey: string, token: string): Account {
    const accountId = this.#state.tokens.get(`${consumerKey}\u0000${token}`)?.accountId;
    const account = this.#state.accounts.find((a) => a.id === accountId);
    if (!account) throw new Error('a verified token always has an account');
    return account;
  }
}

/** Starts a sandbox on 127.0.0.1 with a fresh self-signed certificate (CN and SAN 127.0.0.1, localhost). */
export async function startXSandbox(options: XSandboxOptions = {}): Promise<XSandbox> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  const sandbox = new Sandbox(pems, options);
  await sandbox.start();
  return sandbox;
}

function textOfBody(body: unknown): string | undefined {
  const text = body && typeof body === 'object' ? (body as { text?: unknown }).text : undefined;
  return typeof text === 'string' ? text : undefined;
}

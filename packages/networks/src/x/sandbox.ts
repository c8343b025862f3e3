/**
 * A local X API over https for tests and the demo: the endpoints the X connector uses, with X's
 * own rules (OAuth 1.0a signatures, weighted text length, duplicate refusal, media lifecycle,
 * profile limits, access levels) and X's own answers (status codes, bodies, rate-limit headers,
 * t.co links and HTML escaping in returned text), plus injectable faults. It is driven through
 * the real `twitter-api-v2` client, so it speaks https only: the certificate is generated at
 * start and its PEM is handed to the client's agent.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import multipart from '@fastify/multipart';
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { generate } from 'selfsigned';
import { xWeightedLength } from '@sunset/text';
import { preciseNow } from '../sandbox-clock.ts';
import { encodePng, sniffImage } from './images.ts';
import { formPairs, verifyOAuthRequest, type OAuthCheck } from './oauth1.ts';

export type XSandboxFault =
  | { kind: 'latency'; ms: number }
  | { kind: 'status'; status: 500 | 502 | 503 }
  | { kind: 'rate-limit'; resetInSeconds: number }
  /** Destroys the connection without answering and without applying the request. */
  | { kind: 'reset' }
  /** Applies the request (creates the tweet…), then destroys the connection instead of answering. */
  | { kind: 'lost-reply' };

export interface XSandboxInjectOptions {
  /** How many matching requests the fault hits (default 1). */
  times?: number;
  /** Only requests to this exact path (string) or matching this pattern. */
  path?: string | RegExp;
  method?: string;
}

export interface XSandboxAccountInput {
  id: string;
  username: string;
  name: string;
  appKey: string;
  appSecret: string;
  accessToken: string;
  accessSecret: string;
  profile?: { description?: string; url?: string; location?: string };
}

export interface XSandboxImage {
  data: Buffer;
  mediaType: string;
  /** The original-size URL, as a client downloads it to keep the bytes. */
  url: string;
}

export interface XSandboxProfile {
  name: string;
  description: string;
  /** As given (X shows it through a t.co link). */
  url: string | undefined;
  location: string;
  avatar: XSandboxImage;
  banner: XSandboxImage | undefined;
}

export interface XSandboxMedia {
  id: string;
  mediaKey: string;
  accountId: string;
  mediaType: string;
  totalBytes: number;
  state: 'uploading' | 'in_progress' | 'succeeded' | 'failed';
  data: Buffer | undefined;
  altText: string | undefined;
  width: number | undefined;
  height: number | undefined;
}

export interface XSandboxPost {
  id: string;
  accountId: string;
  username: string;
  /** The text as it was sent. */
  text: string;
  /** The text as X gives it back: links through t.co, &, < and > escaped, a media link appended. */
  returnedText: string;
  createdAt: Date;
  /** The same instant in ms since the epoch, to a fraction of a millisecond (for latency figures). */
  createdAtMs: number;
  inReplyToId: string | undefined;
  conversationId: string;
  mediaIds: string[];
  media: { id: string; mediaType: string; altText: string | undefined; bytes: number }[];
  urls: {
    start: number;
    end: number;
    url: string;
    expandedUrl: string;
    displayUrl: string;
    mediaKey?: string;
  }[];
}

/** One request as the sandbox saw it, and what it answered (Authorization left out). */
export interface XSandboxExchange {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** JSON as parsed, form fields as strings, multipart files as `{ bytes }`. */
  body: unknown;
  /** Undefined when the connection was destroyed instead of answered. */
  status: number | undefined;
  responseHeaders: Record<string, string>;
  responseBody: unknown;
  time: Date;
  fault?: XSandboxFault['kind'];
}

export type XAccessSwitch = 'allowed' | 'forbidden';

export interface XSandboxOptions {
  /** 'forbidden' makes the v1.1 account endpoints answer 403/453, as on tiers without them. */
  profileApi?: XAccessSwitch;
  /** 'forbidden' makes GET /2/users/:id/tweets answer 403 client-not-enrolled (lower tiers). */
  timelineApi?: XAccessSwitch;
  /** 'async': finalize answers "pending" and the media is ready about a second later. */
  mediaProcessing?: 'sync' | 'async';
}

export interface XSandbox {
  readonly url: string;
  /** PEM of the self-signed certificate, for the client's agent to trust. */
  readonly ca: string;
  readonly received: XSandboxExchange[];
  readonly posts: XSandboxPost[];
  /** TLS connections accepted so far. */
  readonly connections: number;
  /** The first account's profile. */
  readonly profile: XSandboxProfile | undefined;
  profileApi: XAccessSwitch;
  timelineApi: XAccessSwitch;
  mediaProcessing: 'sync' | 'async';
  profileOf(accountId: string): XSandboxProfile | undefined;
  media(id: string): XSandboxMedia | undefined;
  addAccount(account: XSandboxAccountInput): void;
  inject(fault: XSandboxFault, options?: XSandboxInjectOptions): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

// X's own words, as its API answers them.
const DUPLICATE_DETAIL = 'You are not allowed to create a Tweet with duplicate content.';
const TOO_LONG_DETAIL =
  'Your Tweet text is too long. For more information on how X determines text length see https://github.com/twitter/twitter-text.';
const REPLY_MISSING_DETAIL = 'You attempted to reply to a Tweet that is deleted or not visible to you.';
const ACCESS_LEVEL_453 =
  'You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints (e.g. media post, oauth) only. If you need access to this endpoint, you may need a different access level. You can learn more here: https://developer.x.com/en/portal/product';
const INVALID_REQUEST_TYPE = 'https://api.x.com/2/problems/invalid-request';

const MAX_TWEET_WEIGHT = 280;
const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
const MAX_GIF_BYTES = 15 * 1024 * 1024;
const MAX_AVATAR_BYTES = 700 * 1024;
const MAX_BANNER_BYTES = 5 * 1024 * 1024;
const MAX_ALT = 1000;
const PROFILE_LIMITS = { name: 50, url: 100, location: 30, description: 160 } as const;
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/pjpeg', 'image/gif', 'image/webp']);
// X's snowflake epoch: ids grow with time, so since_id and ordering behave as on X.
const TWITTER_EPOCH = 1288834974657n;

interface Account extends XSandboxAccountInput {
  profile: XSandboxProfile;
  avatarSerial: number;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw bytes (images), sent as is. */
  raw?: Buffer;
}

interface Fault {
  fault: XSandboxFault;
  remaining: number;
  path: string | RegExp | undefined;
  method: string | undefined;
}

type Handler = (req: FastifyRequest, account: Account) => Answer | Promise<Answer>;
type RouteHandler = { auth: true; run: Handler } | { auth: false; run: (req: FastifyRequest) => Answer };

interface MediaRecord extends XSandboxMedia {
  chunks: Map<number, Buffer>;
  readyAt: number;
}

/** A multipart file part as the sandbox keeps it. */
interface UploadedFile {
  data: Buffer;
  filename: string;
  mimetype: string;
}

function isUploadedFile(value: unknown): value is UploadedFile {
  return !!value && typeof value === 'object' && (value as Partial<UploadedFile>).data instanceof Buffer;
}

function isV2(path: string): boolean {
  return path.startsWith('/2/');
}

/** An RFC 7807 problem as X sends for most refusals (type "about:blank"). */
function problem(status: number, title: string, detail: string, extra: Record<string, unknown> = {}): Answer {
  return {
    status,
    body: { title, detail, type: 'about:blank', status, ...extra },
    headers: { 'content-type': 'application/problem+json' },
  };
}

/** X's "invalid request" problem, naming the parameters at fault. */
function invalidRequest(message: string, parameters: Record<string, string[]> = {}): Answer {
  return {
    status: 400,
    body: {
      errors: [{ parameters, message }],
      title: 'Invalid Request',
      detail: 'One or more parameters to your request was invalid.',
      type: INVALID_REQUEST_TYPE,
    },
    headers: { 'content-type': 'application/problem+json' },
  };
}

/** The v1.1 error shape. */
function v1Error(status: number, code: number, message: string): Answer {
  return { status, body: { errors: [{ code, message }] } };
}

function unauthorized(path: string, check: Exclude<OAuthCheck, { ok: true }>): Answer {
  if (isV2(path)) return problem(401, 'Unauthorized', 'Unauthorized');
  if (check.reason === 'unknown-token') return v1Error(401, 89, 'Invalid or expired token.');
  if (check.reason === 'stale') return v1Error(401, 135, 'Timestamp out of bounds.');
  return v1Error(401, 32, 'Could not authenticate you.');
}

function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Links as people write them; twitter-text would also link bare domains, the sandbox does not.
const LINK = /https?:\/\/[^\s<>"]+/g;

function trimLink(url: string): string {
  return url.replace(/[.,;:!?'")\]]+$/, '');
}

function codePoints(text: string): number {
  return [...text].length;
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

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function formBody(req: FastifyRequest): Map<string, string> {
  return typeof req.body === 'string' ? new Map(formPairs(req.body)) : new Map();
}

function fieldList(query: unknown, ...names: string[]): Set<string> {
  const out = new Set<string>();
  for (const name of names) {
    const value = asRecord(query)?.[name];
    if (typeof value === 'string') for (const field of value.split(',')) if (field) out.add(field);
  }
  return out;
}

// X documents and accepts `tweet.fields`; its OpenAPI document calls the same parameter
// `post.fields`. Both are read.
const POST_FIELDS = ['tweet.fields', 'post.fields'];
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

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Wed Oct 10 20:19:24 +0000 2018", as v1.1 writes dates. */
function v1Date(date: Date): string {
  const day = String(date.getUTCDate()).padStart(2, '0');
  const time = date.toISOString().slice(11, 19);
  return `${WEEKDAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${day} ${time} +0000 ${date.getUTCFullYear()}`;
}

function extensionOf(mediaType: string): string {
  return mediaType === 'image/jpeg' ? 'jpg' : (mediaType.split('/')[1] ?? 'bin');
}

class Sandbox implements XSandbox {
  readonly received: XSandboxExchange[] = [];
  readonly posts: XSandboxPost[] = [];
  /** The last post of each account and text, so that a duplicate is found without a scan of all. */
  readonly #byText = new Map<string, XSandboxPost>();
  profileApi: XAccessSwitch;
  timelineApi: XAccessSwitch;
  mediaProcessing: 'sync' | 'async';
  url = '';
  readonly ca: string;
  readonly #key: string;
  readonly #app: FastifyInstance;
  readonly #accounts: Account[] = [];
  readonly #appSecrets = new Map<string, string>();
  readonly #tokens = new Map<string, { secret: string; accountId: string }>();
  readonly #nonces = new Map<string, number>();
  readonly #media = new Map<string, MediaRecord>();
  readonly #faults: Fault[] = [];
  readonly #closing = new AbortController();
  #stopped: Promise<void> | undefined;
  #sequence = 0n;
  #tcoSerial = 0;
  connections = 0;

  constructor(pems: { cert: string; private: string }, options: XSandboxOptions) {
    this.ca = pems.cert;
    this.#key = pems.private;
    this.profileApi = options.profileApi ?? 'allowed';
    this.timelineApi = options.timelineApi ?? 'allowed';
    this.mediaProcessing = options.mediaProcessing ?? 'sync';
    this.#app = fastify({
      https: { key: this.#key, cert: this.ca },
      logger: false,
      // Media chunks are 1 MiB plus the multipart envelope.
      bodyLimit: 8 * 1024 * 1024,
      // A test that stops the sandbox must not wait for a request held by a latency fault.
      forceCloseConnections: true,
    });
  }

  get profile(): XSandboxProfile | undefined {
    return this.#accounts[0]?.profile;
  }

  profileOf(accountId: string): XSandboxProfile | undefined {
    return this.#accounts.find((a) => a.id === accountId)?.profile;
  }

  media(id: string): XSandboxMedia | undefined {
    const record = this.#media.get(id);
    if (!record) return undefined;
    const { chunks: _chunks, readyAt: _readyAt, ...media } = record;
    return media;
  }

  addAccount(input: XSandboxAccountInput): void {
    const knownSecret = this.#appSecrets.get(input.appKey);
    if (knownSecret !== undefined && knownSecret !== input.appSecret) {
      throw new Error(`app ${input.appKey} is already registered with another secret`);
    }
    if (this.#accounts.some((a) => a.id === input.id)) throw new Error(`account ${input.id} exists`);
    this.#appSecrets.set(input.appKey, input.appSecret);
    this.#tokens.set(`${input.appKey}\u0000${input.accessToken}`, {
      secret: input.accessSecret,
      accountId: input.id,
    });
    const avatar = encodePng(48, 48, [0x88, 0x99, 0xa6], this.#accounts.length);
    this.#accounts.push({
      ...input,
      avatarSerial: 0,
      profile: {
        name: input.name,
        description: input.profile?.description ?? '',
        url: input.profile?.url,
        location: input.profile?.location ?? '',
        avatar: { data: avatar, mediaType: 'image/png', url: this.#avatarUrl(input.id, 0, 'image/png') },
        banner: undefined,
      },
    });
  }

  inject(fault: XSandboxFault, options: XSandboxInjectOptions = {}): void {
    this.#faults.push({
      fault,
      remaining: options.times ?? 1,
      path: options.path,
      method: options.method?.toUpperCase(),
    });
  }

  clearFaults(): void {
    this.#faults.length = 0;
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
    route('POST', '/2/tweets', (req, account) => this.#createTweet(req, account));
    route('GET', '/2/tweets/:id', (req) => this.#getTweet(req));
    route('GET', '/2/users/me', (req, account) => ({
      status: 200,
      body: { data: this.#userV2(account, req) },
    }));
    route('GET', '/2/users/:id/tweets', (req) => this.#userTweets(req));
    route('POST', '/2/media/upload/initialize', (req, account) => this.#initializeUpload(req, account));
    route('POST', '/2/media/upload/:id/append', (req, account) => this.#appendUpload(req, account));
    route('POST', '/2/media/upload/:id/finalize', (req, account) => this.#finalizeUpload(req, account));
    route('GET', '/2/media/upload', (req, account) => this.#uploadStatus(req, account));
    route('POST', '/2/media/metadata', (req, account) => this.#mediaMetadata(req, account));
    route(
      'GET',
      '/1.1/account/verify_credentials.json',
      (_req, account) => this.#profileGate() ?? { status: 200, body: this.#userV1(account) },
    );
    route('POST', '/1.1/account/update_profile.json', (req, account) => this.#updateProfile(req, account));
    route('POST', '/1.1/account/update_profile_image.json', (req, account) =>
      this.#updateImage(req, account),
    );
    route('POST', '/1.1/account/update_profile_banner.json', (req, account) =>
      this.#updateBanner(req, account),
    );
    // Images are public (pbs.twimg.com on X): no signature.
    publicRoute('/profile_images/:uid/:file', (req) => this.#serveAvatar(req));
    publicRoute('/profile_banners/:uid/:stamp', (req) => this.#serveBanner(req));
    publicRoute('/profile_banners/:uid/:stamp/:size', (req) => this.#serveBanner(req));

    await app.listen({ host: '127.0.0.1', port: 0 });
    app.server.on('secureConnection', () => (this.connections += 1));
    const address = app.server.address() as AddressInfo;
    this.url = `https://127.0.0.1:${address.port}`;
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

  #takeFault(method: string, path: string): XSandboxFault | undefined {
    const index = this.#faults.findIndex(
      (f) =>
        (f.method === undefined || f.method === method) &&
        (f.path === undefined || (typeof f.path === 'string' ? f.path === path : f.path.test(path))),
    );
    const entry = this.#faults[index];
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.#faults.splice(index, 1);
    return entry.fault;
  }

  async #handle(req: FastifyRequest, reply: FastifyReply, route: RouteHandler) {
    const exchange = this.#exchange(req);
    const fault = this.#takeFault(req.method, exchange.path);
    if (fault) exchange.fault = fault.kind;
    if (fault?.kind === 'latency') {
      await delay(fault.ms, undefined, { signal: this.#closing.signal }).catch(() => undefined);
      if (this.#closing.signal.aborted) return this.#destroy(req, reply);
    }
    if (fault?.kind === 'reset') return this.#destroy(req, reply);
    if (fault?.kind === 'status') {
      return this.#finish(reply, exchange, this.#serverError(exchange.path, fault.status), undefined);
    }
    if (fault?.kind === 'rate-limit') {
      return this.#finish(reply, exchange, this.#rateLimited(exchange.path, fault.resetInSeconds), undefined);
    }

    let account: Account | undefined;
    let answer: Answer;
    if (route.auth) {
      const check = this.#verify(req, exchange.path);
      if (!check.ok) return this.#finish(reply, exchange, unauthorized(exchange.path, check), undefined);
      account = this.#accountFor(check.consumerKey, check.token);
      answer = this.#unknownQuery(req, exchange) ?? (await route.run(req, account));
    } else {
      answer = route.run(req);
    }
    if (fault?.kind === 'lost-reply') return this.#destroy(req, reply);
    return this.#finish(reply, exchange, answer, account);
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

  #serverError(path: string, status: 500 | 502 | 503): Answer {
    const titles = { 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' } as const;
    if (isV2(path)) return problem(status, titles[status], titles[status]);
    return status === 503 ? v1Error(503, 130, 'Over capacity') : v1Error(status, 131, 'Internal error');
  }

  #rateLimited(path: string, resetInSeconds: number): Answer {
    const answer = isV2(path)
      ? problem(429, 'Too Many Requests', 'Too Many Requests')
      : v1Error(429, 88, 'Rate limit exceeded');
    return {
      ...answer,
      headers: {
        ...answer.headers,
        'x-rate-limit-limit': '100',
        'x-rate-limit-remaining': '0',
        'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
      },
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
        consumerSecret: (key) => this.#appSecrets.get(key),
        tokenSecret: (key, token) => this.#tokens.get(`${key}\u0000${token}`)?.secret,
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
    const accountId = this.#tokens.get(`${consumerKey}\u0000${token}`)?.accountId;
    const account = this.#accounts.find((a) => a.id === accountId);
    if (!account) throw new Error('a verified token always has an account');
    return account;
  }

  #nextId(): string {
    this.#sequence = (this.#sequence + 1n) & 0x3fffffn;
    return String(((BigInt(Date.now()) - TWITTER_EPOCH) << 22n) | this.#sequence);
  }

  #tco(): string {
    this.#tcoSerial += 1;
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    let n = this.#tcoSerial * 7919 + 1_000_000;
    let slug = '';
    while (slug.length < 10) {
      slug += alphabet[n % alphabet.length];
      n = Math.floor(n / alphabet.length) + slug.length * 31;
    }
    return `https://t.co/${slug}`;
  }

  /** Links replaced by t.co ones, as X stores and returns text, with the entities to expand them. */
  #shorten(text: string): { text: string; urls: XSandboxPost['urls'] } {
    const urls: XSandboxPost['urls'] = [];
    let out = '';
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      const expanded = trimLink(match[0]);
      const at = match.index;
      out += text.slice(last, at);
      const tco = this.#tco();
      const start = codePoints(out);
      out += tco;
      urls.push({
        start,
        end: start + codePoints(tco),
        url: tco,
        expandedUrl: expanded,
        displayUrl: expanded.replace(/^https?:\/\//, '').slice(0, 26),
      });
      last = at + expanded.length;
    }
    return { text: out + text.slice(last), urls };
  }

  // ---- tweets -------------------------------------------------------------------------------

  #createTweet(req: FastifyRequest, account: Account): Answer {
    const body = asRecord(req.body);
    if (!body) return invalidRequest('The request body is not a JSON object.');
    const text = body.text ?? '';
    if (typeof text !== 'string') return invalidRequest('`text` must be a string.', { text: [String(text)] });
    const reply = body.reply === undefined ? undefined : asRecord(body.reply);
    const replyTo = reply?.in_reply_to_tweet_id;
    if (body.reply !== undefined && (typeof replyTo !== 'string' || !/^[0-9]{1,19}$/.test(replyTo))) {
      return invalidRequest('`reply.in_reply_to_tweet_id` is not a valid id.', {
        'reply.in_reply_to_tweet_id': [String(replyTo)],
      });
    }
    const mediaIds = asRecord(body.media)?.media_ids;
    if (
      body.media !== undefined &&
      (!Array.isArray(mediaIds) ||
        mediaIds.length < 1 ||
        mediaIds.length > 4 ||
        !mediaIds.every((id) => typeof id === 'string'))
    ) {
      return invalidRequest('`media.media_ids` must list 1 to 4 media ids.', {
        'media.media_ids': Array.isArray(mediaIds) ? mediaIds.map(String) : [],
      });
    }
    const ids = (mediaIds ?? []) as string[];
    if (text.trim() === '' && ids.length === 0) {
      return invalidRequest('Your Tweet text is empty.', { text: [text] });
    }
    if (xWeightedLength(text) > MAX_TWEET_WEIGHT) return problem(400, 'Bad Request', TOO_LONG_DETAIL);

    const media: MediaRecord[] = [];
    for (const id of ids) {
      const record = this.#media.get(id);
      if (!record || record.accountId !== account.id || record.state !== 'succeeded') {
        return invalidRequest('Your media IDs are invalid.', { 'media.media_ids': ids });
      }
      media.push(record);
    }
    const parent = replyTo === undefined ? undefined : this.posts.find((p) => p.id === replyTo);
    if (replyTo !== undefined && !parent) return problem(403, 'Forbidden', REPLY_MISSING_DETAIL);
    const textKey = `${account.id}\n${text}`;
    const twin = this.#byText.get(textKey);
    // A post taken out of `posts` (by a test) no longer counts.
    if (twin && this.posts.includes(twin)) return problem(403, 'Forbidden', DUPLICATE_DETAIL);

    const id = this.#nextId();
    const shortened = this.#shorten(text);
    let returned = htmlEscape(shortened.text);
    const urls = shortened.urls;
    const firstMedia = media[0];
    if (firstMedia) {
      // X appends one link to the attached photos at the end of the text.
      const tco = this.#tco();
      const prefix = returned === '' ? '' : `${returned} `;
      const start = codePoints(prefix);
      returned = `${prefix}${tco}`;
      urls.push({
        start,
        end: start + codePoints(tco),
        url: tco,
        expandedUrl: `https://x.com/${account.username}/status/${id}/photo/1`,
        displayUrl: `pic.x.com/${tco.slice(13)}`,
        mediaKey: firstMedia.mediaKey,
      });
    }
    const createdAtMs = preciseNow();
    const post: XSandboxPost = {
      id,
      accountId: account.id,
      username: account.username,
      text,
      returnedText: returned,
      createdAt: new Date(createdAtMs),
      createdAtMs,
      inReplyToId: parent?.id,
      conversationId: parent?.conversationId ?? id,
      mediaIds: ids,
      media: media.map((m) => ({
        id: m.id,
        mediaType: m.mediaType,
        altText: m.altText,
        bytes: m.totalBytes,
      })),
      urls,
    };
    this.posts.push(post);
    this.#byText.set(textKey, post);
    return { status: 201, body: { data: { id, text: returned, edit_history_tweet_ids: [id] } } };
  }

  #tweetV2(post: XSandboxPost, fields: Set<string>): Record<string, unknown> {
    const out: Record<string, unknown> = {
      id: post.id,
      text: post.returnedText,
      edit_history_tweet_ids: [post.id],
    };
    if (fields.has('created_at')) out.created_at = post.createdAt.toISOString();
    if (fields.has('author_id')) out.author_id = post.accountId;
    if (fields.has('conversation_id')) out.conversation_id = post.conversationId;
    if (fields.has('in_reply_to_user_id') && post.inReplyToId) {
      const parent = this.posts.find((p) => p.id === post.inReplyToId);
      if (parent) out.in_reply_to_user_id = parent.accountId;
    }
    if (fields.has('referenced_tweets') && post.inReplyToId) {
      out.referenced_tweets = [{ type: 'replied_to', id: post.inReplyToId }];
    }
    if (fields.has('attachments') && post.mediaIds.length > 0) {
      out.attachments = { media_keys: post.mediaIds.map((id) => this.#media.get(id)?.mediaKey ?? `3_${id}`) };
    }
    if (fields.has('entities') && post.urls.length > 0) {
      out.entities = {
        urls: post.urls.map((u) => ({
          start: u.start,
          end: u.end,
          url: u.url,
          expanded_url: u.expandedUrl,
          display_url: u.displayUrl,
          ...(u.mediaKey ? { media_key: u.mediaKey } : {}),
        })),
      };
    }
    return out;
  }

  #getTweet(req: FastifyRequest): Answer {
    const id = asRecord(req.params)?.id;
    if (typeof id !== 'string' || !/^[0-9]{1,19}$/.test(id)) {
      return invalidRequest(`The \`id\` query parameter value [${String(id)}] is not valid`, {
        id: [String(id)],
      });
    }
    const post = this.posts.find((p) => p.id === id);
    if (!post) {
      // X answers 200 with the error in the body for ids it cannot find.
      return {
        status: 200,
        body: {
          errors: [
            {
              value: id,
              detail: `Could not find tweet with id: [${id}].`,
              title: 'Not Found Error',
              resource_type: 'tweet',
              parameter: 'id',
              resource_id: id,
              type: 'https://api.x.com/2/problems/resource-not-found',
            },
          ],
        },
      };
    }
    return { status: 200, body: { data: this.#tweetV2(post, fieldList(req.query, ...POST_FIELDS)) } };
  }

  #userTweets(req: FastifyRequest): Answer {
    if (this.timelineApi === 'forbidden') {
      return {
        status: 403,
        body: {
          client_id: '0',
          detail:
            'When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.',
          registration_url: 'https://developer.x.com/en/portal/product',
          title: 'Client Forbidden',
          required_enrollment: 'Appropriate Level of API Access',
          reason: 'client-not-enrolled',
          type: 'https://api.x.com/2/problems/client-forbidden',
        },
        headers: { 'content-type': 'application/problem+json' },
      };
    }
    const userId = asRecord(req.params)?.id;
    const query = asRecord(req.query) ?? {};
    const max = query.max_results === undefined ? 10 : Number(query.max_results);
    if (!Number.isInteger(max) || max < 5 || max > 100) {
      return invalidRequest(
        `The \`max_results\` query parameter value [${String(query.max_results)}] is not between 5 and 100`,
        { max_results: [String(query.max_results)] },
      );
    }
    let since: number | undefined;
    if (query.start_time !== undefined) {
      since = Date.parse(String(query.start_time));
      if (!Number.isFinite(since)) {
        return invalidRequest(`Invalid 'start_time':'${String(query.start_time)}'.`, {
          start_time: [String(query.start_time)],
        });
      }
    }
    const sinceId = typeof query.since_id === 'string' ? BigInt(query.since_id) : undefined;
    const offset =
      typeof query.pagination_token === 'string' ? Number.parseInt(query.pagination_token, 36) : 0;
    const all = this.posts
      .filter((p) => p.accountId === userId)
      .filter((p) => since === undefined || p.createdAt.getTime() >= since)
      .filter((p) => sinceId === undefined || BigInt(p.id) > sinceId)
      .reverse();
    const page = all.slice(offset, offset + max);
    const fields = fieldList(req.query, ...POST_FIELDS);
    if (page.length === 0) return { status: 200, body: { meta: { result_count: 0 } } };
    const next = offset + max < all.length ? (offset + max).toString(36) : undefined;
    return {
      status: 200,
      body: {
        data: page.map((p) => this.#tweetV2(p, fields)),
        meta: {
          result_count: page.length,
          newest_id: page[0]?.id,
          oldest_id: page.at(-1)?.id,
          ...(next ? { next_token: next } : {}),
        },
      },
    };
  }

  // ---- media --------------------------------------------------------------------------------

  #ownMedia(account: Account, id: unknown): MediaRecord | Answer {
    const record = typeof id === 'string' ? this.#media.get(id) : undefined;
    if (!record || record.accountId !== account.id) {
      return invalidRequest('The media was not found.', { media_id: [String(id)] });
    }
    return record;
  }

  #initializeUpload(req: FastifyRequest, account: Account): Answer {
    const body = asRecord(req.body);
    const mediaType = body?.media_type;
    const totalBytes = body?.total_bytes;
    if (typeof mediaType !== 'string' || !IMAGE_TYPES.has(mediaType)) {
      return invalidRequest('The media type is not supported by this sandbox (images only).', {
        media_type: [String(mediaType)],
      });
    }
    const limit = mediaType === 'image/gif' ? MAX_GIF_BYTES : MAX_IMAGE_BYTES;
    if (
      typeof totalBytes !== 'number' ||
      !Number.isInteger(totalBytes) ||
      totalBytes <= 0 ||
      totalBytes > limit
    ) {
      return invalidRequest(`File size exceeds ${limit} bytes.`, { total_bytes: [String(totalBytes)] });
    }
    const id = this.#nextId();
    this.#media.set(id, {
      id,
      mediaKey: `3_${id}`,
      accountId: account.id,
      mediaType,
      totalBytes,
      state: 'uploading',
      data: undefined,
      altText: undefined,
      width: undefined,
      height: undefined,
      chunks: new Map(),
      readyAt: 0,
    });
    return { status: 200, body: { data: { id, media_key: `3_${id}`, expires_after_secs: 86400 } } };
  }

  #appendUpload(req: FastifyRequest, account: Account): Answer {
    const record = this.#ownMedia(account, asRecord(req.params)?.id);
    if (!('chunks' in record)) return record;
    const body = asRecord(req.body);
    const segment = Number(body?.segment_index);
    const chunk = body?.media;
    if (!Number.isInteger(segment) || segment < 0 || segment > 999) {
      return invalidRequest('`segment_index` must be between 0 and 999.', {
        segment_index: [String(body?.segment_index)],
      });
    }
    if (!isUploadedFile(chunk)) return invalidRequest('`media` is missing.', { media: [] });
    if (record.state !== 'uploading') return invalidRequest('The upload is already finalized.');
    record.chunks.set(segment, chunk.data);
    return { status: 200, body: { data: { expires_at: Math.floor(Date.now() / 1000) + 86400 } } };
  }

  #finalizeUpload(req: FastifyRequest, account: Account): Answer {
    const record = this.#ownMedia(account, asRecord(req.params)?.id);
    if (!('chunks' in record)) return record;
    if (record.state !== 'uploading') return invalidRequest('The upload is already finalized.');
    const data = Buffer.concat([...record.chunks].sort(([a], [b]) => a - b).map(([, chunk]) => chunk));
    if (data.length !== record.totalBytes) {
      return invalidRequest('Segments do not add up to provided total file size.');
    }
    const sniffed = sniffImage(data);
    const declared = record.mediaType === 'image/pjpeg' ? 'image/jpeg' : record.mediaType;
    if (!sniffed || sniffed.mediaType !== declared) {
      record.state = 'failed';
      return invalidRequest('The media is not a valid image of the declared type.');
    }
    record.data = data;
    record.width = sniffed.width;
    record.height = sniffed.height;
    record.chunks.clear();
    const base = {
      id: record.id,
      media_key: record.mediaKey,
      size: data.length,
      expires_after_secs: 86400,
      ...(record.width !== undefined && record.height !== undefined
        ? { image: { image_type: record.mediaType, w: record.width, h: record.height } }
        : {}),
    };
    if (this.mediaProcessing === 'sync') {
      record.state = 'succeeded';
      return { status: 200, body: { data: base } };
    }
    record.state = 'in_progress';
    record.readyAt = Date.now() + 600;
    return {
      status: 200,
      body: { data: { ...base, processing_info: { state: 'pending', check_after_secs: 1 } } },
    };
  }

  #uploadStatus(req: FastifyRequest, account: Account): Answer {
    const query = asRecord(req.query);
    const record = this.#ownMedia(account, query?.media_id);
    if (!('chunks' in record)) return record;
    if (record.state === 'in_progress' && Date.now() >= record.readyAt) record.state = 'succeeded';
    const info =
      record.state === 'succeeded'
        ? { state: 'succeeded', progress_percent: 100 }
        : record.state === 'failed'
          ? { state: 'failed' }
          : {
              state: record.state === 'uploading' ? 'pending' : 'in_progress',
              check_after_secs: 1,
              progress_percent: 50,
            };
    return {
      status: 200,
      body: { data: { id: record.id, media_key: record.mediaKey, processing_info: info } },
    };
  }

  #mediaMetadata(req: FastifyRequest, account: Account): Answer {
    const body = asRecord(req.body);
    const record = this.#ownMedia(account, body?.id);
    if (!('chunks' in record)) return record;
    const alt = asRecord(asRecord(body?.metadata)?.alt_text)?.text;
    if (alt !== undefined) {
      if (typeof alt !== 'string' || codePoints(alt) > MAX_ALT) {
        return invalidRequest(`Alt text must be a string of at most ${MAX_ALT} characters.`, {
          'metadata.alt_text.text': [String(alt).slice(0, 40)],
        });
      }
      record.altText = alt;
    }
    return {
      status: 200,
      body: {
        data: { id: record.id, associated_metadata: alt === undefined ? {} : { alt_text: { text: alt } } },
      },
    };
  }

  // ---- users and profile --------------------------------------------------------------------

  #userV2(account: Account, req: FastifyRequest): Record<string, unknown> {
    const fields = fieldList(req.query, 'user.fields');
    const p = account.profile;
    const out: Record<string, unknown> = { id: account.id, name: p.name, username: account.username };
    if (fields.has('description')) out.description = p.description;
    if (fields.has('location')) out.location = p.location;
    if (fields.has('url')) out.url = p.url ?? '';
    if (fields.has('profile_image_url'))
      out.profile_image_url = p.avatar.url.replace(/(\.\w+)$/, '_normal$1');
    if (fields.has('protected')) out.protected = false;
    return out;
  }

  #avatarUrl(accountId: string, serial: number, mediaType: string): string {
    return `${this.url}/profile_images/${accountId}/${serial}.${extensionOf(mediaType)}`;
  }

  #profileGate(): Answer | undefined {
    return this.profileApi === 'forbidden' ? v1Error(403, 453, ACCESS_LEVEL_453) : undefined;
  }

  #userV1(account: Account): Record<string, unknown> {
    const p = account.profile;
    const avatarUrl = p.avatar.url;
    const description = this.#shorten(p.description);
    const url = p.url ? this.#shorten(p.url) : undefined;
    const entity = (u: XSandboxPost['urls'][number]) => ({
      url: u.url,
      expanded_url: u.expandedUrl,
      display_url: u.displayUrl,
      indices: [u.start, u.end],
    });
    return {
      id: Number(account.id),
      id_str: account.id,
      name: p.name,
      screen_name: account.username,
      location: p.location,
      description: description.text,
      url: url?.text ?? null,
      entities: {
        ...(url ? { url: { urls: url.urls.map(entity) } } : {}),
        description: { urls: description.urls.map(entity) },
      },
      protected: false,
      followers_count: 1200,
      friends_count: 80,
      listed_count: 3,
      created_at: v1Date(new Date(Date.UTC(2010, 2, 4, 9, 30))),
      favourites_count: 0,
      verified: false,
      statuses_count: this.posts.filter((post) => post.accountId === account.id).length,
      profile_image_url: avatarUrl.replace(/^https:/, 'http:').replace(/(\.\w+)$/, '_normal$1'),
      profile_image_url_https: avatarUrl.replace(/(\.\w+)$/, '_normal$1'),
      ...(p.banner ? { profile_banner_url: p.banner.url } : {}),
      default_profile: false,
      default_profile_image: false,
    };
  }

  #updateProfile(req: FastifyRequest, account: Account): Answer {
    const gate = this.#profileGate();
    if (gate) return gate;
    const params = formBody(req);
    const changes: Partial<Record<keyof typeof PROFILE_LIMITS, string>> = {};
    for (const field of Object.keys(PROFILE_LIMITS) as (keyof typeof PROFILE_LIMITS)[]) {
      const value = params.get(field);
      if (value === undefined) continue;
      if (codePoints(value) > PROFILE_LIMITS[field]) {
        return v1Error(
          403,
          120,
          `Account update failed: ${field === 'description' ? 'Description' : field[0]?.toUpperCase() + field.slice(1)} is too long (maximum is ${PROFILE_LIMITS[field]} characters).`,
        );
      }
      changes[field] = value;
    }
    if (changes.url !== undefined && changes.url !== '' && !/^https?:\/\/\S+$/.test(changes.url)) {
      return v1Error(403, 120, 'Account update failed: URL is not valid.');
    }
    if (changes.name !== undefined && changes.name.trim() !== '') account.profile.name = changes.name;
    if (changes.description !== undefined) account.profile.description = changes.description;
    if (changes.location !== undefined) account.profile.location = changes.location;
    if (changes.url !== undefined) account.profile.url = changes.url === '' ? undefined : changes.url;
    return { status: 200, body: this.#userV1(account) };
  }

  #imageField(req: FastifyRequest, field: string, limit: number): XSandboxImage | Answer {
    const file = asRecord(req.body)?.[field];
    if (!isUploadedFile(file)) return v1Error(400, 38, `${field} parameter is missing.`);
    const data = file.data;
    const sniffed = sniffImage(data);
    if (!sniffed || sniffed.mediaType === 'image/webp') {
      return v1Error(400, 324, 'Image is not a valid GIF, JPG or PNG.');
    }
    if (data.length > limit) return v1Error(400, 324, `Image file size must be <= ${limit} bytes.`);
    return { data, mediaType: sniffed.mediaType, url: '' };
  }

  #updateImage(req: FastifyRequest, account: Account): Answer {
    const gate = this.#profileGate();
    if (gate) return gate;
    const image = this.#imageField(req, 'image', MAX_AVATAR_BYTES);
    if (!('data' in image)) return image;
    account.avatarSerial += 1;
    account.profile.avatar = {
      ...image,
      url: this.#avatarUrl(account.id, account.avatarSerial, image.mediaType),
    };
    return { status: 200, body: this.#userV1(account) };
  }

  #updateBanner(req: FastifyRequest, account: Account): Answer {
    const gate = this.#profileGate();
    if (gate) return gate;
    const image = this.#imageField(req, 'banner', MAX_BANNER_BYTES);
    if (!('data' in image)) return image;
    const stamp = Math.floor(Date.now() / 1000) * 1000 + (randomBytes(2).readUInt16BE() % 1000);
    account.profile.banner = { ...image, url: `${this.url}/profile_banners/${account.id}/${stamp}` };
    // X answers an accepted banner with 201 and no body.
    return { status: 201 };
  }

  #serveAvatar(req: FastifyRequest): Answer {
    const params = asRecord(req.params);
    const account = this.#accounts.find((a) => a.id === params?.uid);
    const wanted = String(params?.file).replace(/_(normal|bigger|mini|400x400)(\.\w+)$/, '$2');
    const avatar = account?.profile.avatar;
    if (!account || !avatar || !avatar.url.endsWith(`/${wanted}`))
      return { status: 404, raw: Buffer.alloc(0) };
    return { status: 200, raw: avatar.data, headers: { 'content-type': avatar.mediaType } };
  }

  #serveBanner(req: FastifyRequest): Answer {
    const params = asRecord(req.params);
    const banner = this.#accounts.find((a) => a.id === params?.uid)?.profile.banner;
    if (!banner || !banner.url.endsWith(`/${String(params?.stamp)}`))
      return { status: 404, raw: Buffer.alloc(0) };
    return { status: 200, raw: banner.data, headers: { 'content-type': banner.mediaType } };
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

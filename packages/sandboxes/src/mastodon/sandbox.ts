/**
 * A local stand-in for a Mastodon server: what `masto` 8 calls for posting, media and profiles,
 * answered in the shapes of the Mastodon OpenAPI spec, over plain http on 127.0.0.1. No Mastodon
 * server can be installed where the tests run, so this fake is checked against the spec instead.
 * Faults (latency, 5xx, 429, connection resets, lost replies) are injected per request.
 *
 * Over 500 lines because its handlers share one closure's state (accounts, statuses, media,
 * idempotency keys, rate windows); its rendering and form decoding are already apart, and
 * splitting the handlers as the X fake's were is left for when it grows further.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fastifyFormbody } from '@fastify/formbody';
import { fastifyMultipart } from '@fastify/multipart';
import type { Logger } from '@sunset/core';
import { mastodonLength } from '@sunset/text';
import { fastify, type FastifyReply, type FastifyRequest } from 'fastify';
import { preciseNow, wallNow, type SandboxClock } from '../clock.ts';
import { formBoolean, formList, formString, nestFormFields, pairsOf, type FormValue } from './form.ts';
import {
  credentialAccountJson,
  DEFAULT_INSTANCE_LIMITS,
  IMAGE_TYPES,
  instanceJson,
  mediaJson,
  placeholderPng,
  statusJson,
  type InstanceLimits,
  type RenderContext,
  type SandboxAccount,
  type SandboxFile,
  type SandboxMedia,
  type SandboxStatus,
} from './render.ts';

export type { InstanceLimits, SandboxAccount, SandboxFile, SandboxMedia, SandboxStatus } from './render.ts';

export type MastodonFault =
  | { kind: 'latency'; ms: number }
  /** A delay that depends on the status text (the `status` field): the same post, the same delay. */
  | { kind: 'latency-of'; ms: (text: string | undefined) => number }
  | { kind: 'status'; status: 500 | 502 | 503 }
  | { kind: 'rate-limit'; resetInSeconds: number }
  /** Destroy the connection without answering, before the request is applied. */
  | { kind: 'reset' }
  /** Apply the request (create the status, remember its idempotency key), then drop the answer. */
  | { kind: 'lost-reply' };

export interface InjectOptions {
  /** How many matching requests get the fault (default 1; Infinity for all). */
  times?: number;
  /** Only requests to this path (exact) or matching this pattern. */
  path?: string | RegExp;
  /** Only requests with this method. */
  method?: string;
}

export interface ReceivedFile {
  field: string;
  filename: string;
  mediaType: string;
  bytes: number;
}

/** One exchange as the sandbox saw it, for assertions and spec checks. */
export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  /** Lower-case names; Authorization and Cookie are left out. */
  headers: Record<string, string>;
  /** Parsed body; in a multipart body each file is described as `{ filename, mimetype, size }`. */
  body: unknown;
  files: ReceivedFile[];
  /** Undefined when the connection was reset without an answer. */
  status?: number;
  responseHeaders: Record<string, string>;
  responseBody: unknown;
  /** The fault injected into this exchange, if any. */
  fault?: MastodonFault['kind'];
  time: Date;
}

export interface AddAccountInput {
  id?: string;
  username: string;
  token: string;
  displayName?: string;
  note?: string;
  bot?: boolean;
  fields?: { name: string; value: string }[];
  /** OAuth scopes of the token (default read and write); a missing one gives 403. */
  scopes?: string[];
  /** Its follower count (default 0). */
  followers?: number;
}

export interface MastodonSandboxOptions {
  limits?: Partial<InstanceLimits>;
  /** How long uploaded media stays "processing" (ms, default 150). */
  mediaProcessingMs?: number;
  /** How long an idempotency key is remembered (ms, default one hour, as Mastodon does). */
  idempotencyTtlMs?: number;
  /** The instance's domain, as in @user@domain (default: the sandbox's host and port). */
  domain?: string;
  accounts?: AddAccountInput[];
  /** Request logging (default none). */
  logger?: Logger;
  /** The sandbox's time (default: the real one), for tests that move it instead of waiting. */
  clock?: SandboxClock;
}

export interface MastodonSandbox {
  /** Base URL, e.g. http://127.0.0.1:43123 */
  readonly url: string;
  readonly received: ReceivedRequest[];
  /** Requests read in full and held by a latency fault, not answered yet (on the wire, as a client sees it). */
  readonly held: ReadonlySet<ReceivedRequest>;
  readonly statuses: SandboxStatus[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  readonly accounts: SandboxAccount[];
  readonly media: SandboxMedia[];
  readonly limits: InstanceLimits;
  addAccount(input: AddAccountInput): SandboxAccount;
  /** Changes what GET /api/v2/instance announces and what the server enforces. */
  setLimits(limits: Partial<InstanceLimits>): void;
  inject(fault: MastodonFault, options?: InjectOptions): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

interface PendingFault {
  fault: MastodonFault;
  remaining: number;
  path?: string | RegExp;
  method?: string;
}

interface Exchange {
  entry: ReceivedRequest;
  /** A fault that answers in the application's stead, applied once the body has been read. */
  fault?: MastodonFault;
  lostReply: boolean;
  parsed?: ParsedBody;
}

interface UploadedFile {
  field: string;
  filename: string;
  mediaType: string;
  data: Uint8Array;
}

interface ParsedBody {
  values: Record<string, unknown>;
  files: Map<string, UploadedFile>;
}

const RATE_LIMIT = 300;
const RATE_PERIOD_MS = 5 * 60 * 1000;
const INVALID_TOKEN = 'The access token is invalid';
const NOT_FOUND = 'Record not found';
const UPLOAD_LIMIT_BYTES = 64 * 1024 * 1024;

class HttpFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}

function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'authorization' || name === 'cookie') continue;
    flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function replyHeaders(reply: FastifyReply): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return flat;
}

function describePayload(payload: unknown, contentType: string): unknown {
  if (typeof payload === 'string') {
    if (contentType.startsWith('application/json')) {
      try {
        return JSON.parse(payload) as unknown;
      } catch {
        return payload;
      }
    }
    return payload;
  }
  if (payload instanceof Uint8Array) return `<${payload.byteLength} bytes>`;
  return payload === null || payload === undefined ? undefined : '<stream>';
}

export async function startMastodonSandbox(options: MastodonSandboxOptions = {}): Promise<MastodonSandbox> {
  const limits: InstanceLimits = { ...DEFAULT_INSTANCE_LIMITS, ...options.limits };
  const mediaProcessingMs = options.mediaProcessingMs ?? 150;
  const idempotencyTtlMs = options.idempotencyTtlMs ?? 60 * 60 * 1000;
  const clock = options.clock ?? preciseNow;
  // Whole milliseconds, where Mastodon has them (ids, rate windows, timestamps).
  const nowMs = (): number => Math.floor(clock());
  // created_at as a client reads it: the moved clock when a test moves it, the wall clock otherwise.
  const stampMs = options.clock ? nowMs : wallNow;
  const accounts = new Map<string, SandboxAccount>();
  const byToken = new Map<string, SandboxAccount>();
  const statuses = new Map<string, SandboxStatus>();
  const replyCounts = new Map<string, number>();
  const postedBy = new Map<string, { count: number; last: SandboxStatus }>();
  const media = new Map<string, SandboxMedia>();
  const files = new Map<string, SandboxFile>();
  const idempotency = new Map<string, { statusId: string; at: number }>();
  const rateWindows = new Map<string, { start: number; used: number }>();
  const received: ReceivedRequest[] = [];
  const held = new Set<ReceivedRequest>();
  const faults: PendingFault[] = [];
  const exchanges = new WeakMap<IncomingMessage, Exchange>();
  let sequence = 0;
  let base = '';
  let domain = options.domain ?? '';

  // Mastodon ids are snowflakes: milliseconds shifted left 16 bits plus a sequence, as strings.
  const nextId = (): string => String((BigInt(nowMs()) << 16n) + BigInt(sequence++ & 0xffff));

  const context = (): RenderContext => ({
    base,
    domain,
    limits,
    accounts,
    media,
    statuses,
    replyCounts,
    postedBy,
    now: nowMs(),
  });

  function storeFile(kind: string, ownerId: string, upload: UploadedFile): SandboxFile {
    const ext = IMAGE_TYPES[upload.mediaType] ?? 'bin';
    const digest = createHash('sha256').update(upload.data).digest('hex').slice(0, 16);
    const path = `/system/${kind}/${ownerId}/original/${digest}.${ext}`;
    const file: SandboxFile = {
      data: upload.data,
      mediaType: upload.mediaType,
      url: `${base}${path}`,
    };
    files.set(path, file);
    return file;
  }

  function addAccount(input: AddAccountInput): SandboxAccount {
    if (byToken.has(input.token)) throw new Error('sandbox: that token is already in use');
    const account: SandboxAccount = {
      id: input.id ?? nextId(),
      username: input.username,
      token: input.token,
      displayName: input.displayName ?? '',
      note: input.note ?? '',
      bot: input.bot ?? false,
      fields: input.fields ?? [],
      scopes: input.scopes ?? ['read', 'write'],
      createdAt: new Date(stampMs()),
      followers: input.followers ?? 0,
    };
    accounts.set(account.id, account);
    byToken.set(account.token, account);
    return account;
  }

  function takeFault(request: FastifyRequest): MastodonFault | undefined {
    const path = request.url.split('?')[0] ?? '';
    const index = faults.findIndex(
      (f) =>
        (f.method === undefined || f.method.toUpperCase() === request.method) &&
        (f.path === undefined || (typeof f.path === 'string' ? f.path === path : f.path.test(path))),
    );
    const pending = faults[index];
    if (!pending) return undefined;
    pending.remaining--;
    if (pending.remaining <= 0) faults.splice(index, 1);
    return pending.fault;
  }

  function rateHeaders(reply: FastifyReply, key: string, now = nowMs()): void {
    let window = rateWindows.get(key);
    if (!window || now - window.start >= RATE_PERIOD_MS) {
      window = { start: now - (now % RATE_PERIOD_MS), used: 0 };
      rateWindows.set(key, window);
    }
    window.used++;
    reply.header('x-ratelimit-limit', String(RATE_LIMIT));
    reply.header('x-ratelimit-remaining', String(Math.max(0, RATE_LIMIT - window.used)));
    reply.header('x-ratelimit-reset', new Date(window.start + RATE_PERIOD_MS).toISOString());
  }

  /**
   * The account of the request's bearer token; 401 when it is missing or unknown, 403 when the
   * token lacks the scope (`write`, or its part such as `write:statuses`), as Doorkeeper answers.
   */
  function authenticate(request: FastifyRequest, reply: FastifyReply, scope: string): SandboxAccount {
    const account = optionalAccount(request, reply);
    if (!account) throw new HttpFailure(401, INVALID_TOKEN);
    const family = scope.split(':')[0] ?? scope;
    if (!account.scopes.includes(scope) && !account.scopes.includes(family)) {
      throw new HttpFailure(403, 'This action is outside the authorized scopes');
    }
    return account;
  }

  /** Like authenticate, for routes Mastodon also serves without a token (a public status). */
  function optionalAccount(request: FastifyRequest, reply: FastifyReply): SandboxAccount | undefined {
    const header = request.headers.authorization;
    if (header === undefined) return undefined;
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const account = token === undefined ? undefined : byToken.get(token);
    if (!account) {
      reply.header(
        'www-authenticate',
        `Bearer realm="Doorkeeper", error="invalid_token", error_description="${INVALID_TOKEN}"`,
      );
      throw new HttpFailure(401, INVALID_TOKEN);
    }
    rateHeaders(reply, account.id);
    return account;
  }

  /** The request's body, read once (in preHandler) whatever its encoding. */
  function bodyOf(request: FastifyRequest): ParsedBody {
    return exchanges.get(request.raw)?.parsed ?? { values: {}, files: new Map() };
  }

  async function parseBody(request: FastifyRequest, exchange: Exchange): Promise<ParsedBody> {
    const uploads = new Map<string, UploadedFile>();
    let values: Record<string, unknown>;
    if (request.body === undefined && !request.isMultipart()) {
      return { values: {}, files: uploads };
    }
    if (request.isMultipart()) {
      const pairs: [string, string][] = [];
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          const data = new Uint8Array(await part.toBuffer());
          uploads.set(part.fieldname, {
            field: part.fieldname,
            filename: part.filename,
            mediaType: part.mimetype,
            data,
          });
        } else {
          pairs.push([part.fieldname, String(part.value)]);
        }
      }
      values = nestFormFields(pairs);
    } else if (request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      values = nestFormFields(pairsOf((request.body ?? {}) as Record<string, unknown>));
    } else {
      const body: unknown = request.body;
      values = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
    }
    const summary: Record<string, unknown> = { ...values };
    for (const upload of uploads.values()) {
      summary[upload.field] = {
        filename: upload.filename,
        mimetype: upload.mediaType,
        size: upload.data.byteLength,
      };
      exchange.entry.files.push({
        field: upload.field,
        filename: upload.filename,
        mediaType: upload.mediaType,
        bytes: upload.data.byteLength,
      });
    }
    exchange.entry.body = summary;
    return { values, files: uploads };
  }

  function checkImage(upload: UploadedFile, what: string): void {
    if (!(upload.mediaType in IMAGE_TYPES)) {
      throw new HttpFailure(422, `Validation failed: ${what} content type is invalid`);
    }
    if (upload.data.byteLength > limits.imageSizeLimit) {
      throw new HttpFailure(
        422,
        `Validation failed: ${what} file size must be less than ${megabytes(limits.imageSizeLimit)}`,
      );
    }
  }

  function ownMedia(account: SandboxAccount, id: string): SandboxMedia {
    const found = media.get(id);
    if (!found || found.accountId !== account.id || found.statusId !== undefined) {
      throw new HttpFailure(404, NOT_FOUND);
    }
    return found;
  }

  function checkDescription(description: string | undefined): void {
    if (description !== undefined && codePoints(description) > limits.descriptionLimit) {
      throw new HttpFailure(
        422,
        `Validation failed: Description is too long (maximum is ${limits.descriptionLimit} characters)`,
      );
    }
  }

  const app = fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    forceCloseConnections: true,
    bodyLimit: UPLOAD_LIMIT_BYTES,
  });
  await app.register(fastifyFormbody);
  await app.register(fastifyMultipart, { limits: { fileSize: UPLOAD_LIMIT_BYTES, files: 4 } });

  app.addHook('onRequest', async (request, reply) => {
    const [path = '', search = ''] = request.url.split('?');
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(search)) {
      const previous = query[key];
      query[key] =
        previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
    }
    const entry: ReceivedRequest = {
      method: request.method,
      path,
      query,
      headers: flatHeaders(request.headers),
      body: undefined,
      files: [],
      responseHeaders: {},
      responseBody: undefined,
      time: new Date(nowMs()),
    };
    const exchange: Exchange = { entry, lostReply: false };
    exchanges.set(request.raw, exchange);

    const fault = takeFault(request);
    if (!fault) return;
    entry.fault = fault.kind;
    if (fault.kind === 'reset') {
      // Before the body is read: the request is not applied.
      received.push(entry);
      request.raw.socket.destroy();
      reply.hijack();
      return;
    }
    if (fault.kind === 'lost-reply') exchange.lostReply = true;
    else exchange.fault = fault;
  });

  // Faults that answer are applied after the body is read, so that what was sent is recorded.
  app.addHook('preHandler', async (request, reply) => {
    const exchange = exchanges.get(request.raw);
    if (!exchange) return;
    const parsed = await parseBody(request, exchange);
    exchange.parsed = parsed;
    const fault = exchange.fault;
    if (!fault) return;
    switch (fault.kind) {
      case 'latency':
      case 'latency-of':
        held.add(exchange.entry);
        try {
          await sleep(
            fault.kind === 'latency'
              ? fault.ms
              : fault.ms(typeof parsed.values['status'] === 'string' ? parsed.values['status'] : undefined),
          );
        } finally {
          held.delete(exchange.entry);
        }
        return;
      case 'status':
        if (fault.status === 502) {
          // What a reverse proxy answers when the application is down: HTML, not JSON.
          return reply
            .code(502)
            .type('text/html')
            .send('<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>');
        }
        return reply.code(fault.status).send({
          error:
            fault.status === 503
              ? 'There was a temporary problem serving your request, please try again'
              : 'We are sorry, but something went wrong on our end.',
        });
      case 'rate-limit':
        reply.header('x-ratelimit-limit', String(RATE_LIMIT));
        reply.header('x-ratelimit-remaining', '0');
        reply.header('x-ratelimit-reset', new Date(nowMs() + fault.resetInSeconds * 1000).toISOString());
        return reply.code(429).send({ error: 'Too many requests' });
      default:
        return;
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const exchange = exchanges.get(request.raw);
    if (!exchange) return payload;
    const { entry } = exchange;
    entry.status = reply.statusCode;
    entry.responseHeaders = replyHeaders(reply);
    entry.responseBody = describePayload(payload, String(reply.getHeader('content-type') ?? ''));
    received.push(entry);
    if (exchange.lostReply) {
      // The work is done; the client never hears of it.
      request.raw.socket.destroy();
    }
    return payload;
  });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof HttpFailure) {
      return reply.code(error.status).send({ error: error.message });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 413 || (error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
      return reply.code(422).send({ error: 'Validation failed: File file size is too large' });
    }
    if (status !== undefined && status >= 400 && status < 500) {
      return reply
        .code(status === 415 ? 400 : status)
        .send({ error: error instanceof Error ? error.message : 'Bad request' });
    }
    return reply.code(500).send({ error: 'We are sorry, but something went wrong on our end.' });
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: NOT_FOUND }));

  app.get('/api/v2/instance', async () => instanceJson(context()));

  app.get('/api/v1/accounts/verify_credentials', async (request, reply) => {
    const account = authenticate(request, reply, 'read:accounts');
    return credentialAccountJson(context(), account);
  });

  app.patch('/api/v1/accounts/update_credentials', async (request, reply) => {
    const account = authenticate(request, reply, 'write:accounts');
    const { values, files: uploads } = bodyOf(request);
    const displayName = formString(values['display_name']);
    const note = formString(values['note']);
    const bot = formBoolean(values['bot']);
    const fieldsInput = values['fields_attributes'] as FormValue | undefined;
    const errors: string[] = [];
    if (displayName !== undefined && codePoints(displayName) > limits.maxDisplayNameLength) {
      errors.push(`Display name is too long (maximum is ${limits.maxDisplayNameLength} characters)`);
    }
    if (note !== undefined && mastodonLength(note.trim(), limits) > limits.maxNoteLength) {
      errors.push(`Note character limit of ${limits.maxNoteLength} exceeded`);
    }
    let fields: { name: string; value: string }[] | undefined;
    if (fieldsInput !== undefined && typeof fieldsInput === 'object') {
      // Mastodon replaces every field with those sent and drops pairs left blank.
      fields = Object.values(fieldsInput)
        .map((f) =>
          f && typeof f === 'object' && !Array.isArray(f)
            ? { name: formString(f['name']) ?? '', value: formString(f['value']) ?? '' }
            : { name: '', value: '' },
        )
        .filter((f) => f.name.trim() !== '' || f.value.trim() !== '');
      if (fields.length > limits.maxProfileFields) {
        errors.push(`Fields is too long (maximum is ${limits.maxProfileFields} characters)`);
      }
      if (fields.some((f) => codePoints(f.name) > 255 || codePoints(f.value) > 255)) {
        errors.push('Fields are too long (maximum is 255 characters each)');
      }
    }
    const avatar = uploads.get('avatar');
    const header = uploads.get('header');
    if (avatar) checkImage(avatar, 'Avatar');
    if (header) checkImage(header, 'Header');
    if (errors.length > 0) throw new HttpFailure(422, `Validation failed: ${errors.join(', ')}`);
    // Applied all at once, as Rails saves the record in one transaction.
    if (displayName !== undefined) account.displayName = displayName;
    if (note !== undefined) account.note = note;
    if (bot !== undefined) account.bot = bot;
    if (fields) account.fields = fields;
    if (avatar) account.avatar = storeFile('accounts/avatars', account.id, avatar);
    if (header) account.header = storeFile('accounts/headers', account.id, header);
    return credentialAccountJson(context(), account);
  });

  app.post('/api/v1/statuses', async (request, reply) => {
    const account = authenticate(request, reply, 'write:statuses');
    const key = request.headers['idempotency-key'];
    const idempotencyKey = Array.isArray(key) ? key[0] : key;
    if (idempotencyKey) {
      // As PostStatusService: a key seen from this account within the hour gives the same status.
      const seen = idempotency.get(`${account.id}:${idempotencyKey}`);
      const existing = seen ? statuses.get(seen.statusId) : undefined;
      if (seen && existing && nowMs() - seen.at < idempotencyTtlMs) {
        return statusJson(context(), existing);
      }
    }
    const { values } = bodyOf(request);
    const text = formString(values['status']) ?? '';
    const inReplyToId = formString(values['in_reply_to_id']) || null;
    const mediaIds = formList(values['media_ids'] ?? values['media_ids[]']) ?? [];
    const language = formString(values['language']) || null;
    const visibilityInput = formString(values['visibility']) ?? 'public';
    if (!['public', 'unlisted', 'private', 'direct'].includes(visibilityInput)) {
      throw new HttpFailure(422, 'Validation failed: Visibility is not included in the list');
    }
    const visibility = visibilityInput as SandboxStatus['visibility'];
    if (inReplyToId !== null && !statuses.has(inReplyToId)) {
      throw new HttpFailure(404, 'The post you are trying to reply to does not appear to exist.');
    }
    if (mediaIds.length > limits.maxMediaAttachments) {
      throw new HttpFailure(422, `Cannot attach more than ${limits.maxMediaAttachments} files`);
    }
    const attached = mediaIds.map((id) => {
      const found = media.get(id);
      if (!found || found.accountId !== account.id || found.statusId !== undefined) {
        throw new HttpFailure(422, `Media ${id} not found or already attached to another post`);
      }
      if (nowMs() < found.readyAt) {
        throw new HttpFailure(
          422,
          'Cannot attach files that have not finished processing. Try again in a moment!',
        );
      }
      return found;
    });
    if (text.trim() === '' && attached.length === 0) {
      throw new HttpFailure(422, "Validation failed: Text can't be blank");
    }
    if (mastodonLength(text, limits) > limits.maxCharacters) {
      throw new HttpFailure(
        422,
        `Validation failed: Text character limit of ${limits.maxCharacters} exceeded`,
      );
    }
    const createdAtMs = clock();
    const status: SandboxStatus = {
      id: nextId(),
      accountId: account.id,
      text,
      inReplyToId,
      mediaIds: attached.map((m) => m.id),
      language,
      visibility,
      createdAt: new Date(stampMs()),
      createdAtMs,
      pinned: false,
      ...(idempotencyKey ? { idempotencyKey } : {}),
    };
    statuses.set(status.id, status);
    if (inReplyToId) replyCounts.set(inReplyToId, (replyCounts.get(inReplyToId) ?? 0) + 1);
    postedBy.set(account.id, { count: (postedBy.get(account.id)?.count ?? 0) + 1, last: status });
    for (const m of attached) m.statusId = status.id;
    if (idempotencyKey) {
      idempotency.set(`${account.id}:${idempotencyKey}`, { statusId: status.id, at: nowMs() });
    }
    return statusJson(context(), status);
  });

  app.get<{ Params: { id: string } }>('/api/v1/statuses/:id', async (request, reply) => {
    const account = optionalAccount(request, reply);
    const status = statuses.get(request.params.id);
    const visible =
      status &&
      (status.visibility === 'public' ||
        status.visibility === 'unlisted' ||
        status.accountId === account?.id);
    if (!status || !visible) throw new HttpFailure(404, NOT_FOUND);
    return statusJson(context(), status);
  });

  app.post<{ Params: { id: string } }>('/api/v1/statuses/:id/pin', async (request, reply) => {
    const account = authenticate(request, reply, 'write:accounts');
    const status = statuses.get(request.params.id);
    if (!status) throw new HttpFailure(404, NOT_FOUND);
    if (status.accountId !== account.id) {
      throw new HttpFailure(422, 'Validation failed: Status can only pin your own posts');
    }
    status.pinned = true;
    return statusJson(context(), status);
  });

  app.post('/api/v2/media', async (request, reply) => {
    const account = authenticate(request, reply, 'write:media');
    const { values, files: uploads } = bodyOf(request);
    const upload = uploads.get('file');
    if (!upload) throw new HttpFailure(422, "Validation failed: File can't be blank");
    checkImage(upload, 'File');
    const description = formString(values['description']);
    checkDescription(description);
    const id = nextId();
    const item: SandboxMedia = {
      id,
      accountId: account.id,
      file: storeFile('media_attachments/files', id, upload),
      description: description ?? null,
      readyAt: nowMs() + mediaProcessingMs,
    };
    media.set(id, item);
    // Processing goes on in the background: 202 with `url: null`, as Mastodon does for v2.
    return reply.code(nowMs() >= item.readyAt ? 200 : 202).send(mediaJson(context(), item));
  });

  app.get<{ Params: { id: string } }>('/api/v1/media/:id', async (request, reply) => {
    const account = authenticate(request, reply, 'write:media');
    const item = ownMedia(account, request.params.id);
    return reply.code(nowMs() >= item.readyAt ? 200 : 206).send(mediaJson(context(), item));
  });

  app.put<{ Params: { id: string } }>('/api/v1/media/:id', async (request, reply) => {
    const account = authenticate(request, reply, 'write:media');
    const item = ownMedia(account, request.params.id);
    const { values } = bodyOf(request);
    const description = formString(values['description']);
    checkDescription(description);
    if (description !== undefined) item.description = description;
    return reply.code(nowMs() >= item.readyAt ? 200 : 206).send(mediaJson(context(), item));
  });

  const placeholder = Buffer.from(placeholderPng());
  for (const kind of ['avatars', 'headers']) {
    app.get(`/${kind}/original/missing.png`, async (_request, reply) =>
      reply.type('image/png').send(placeholder),
    );
  }

  app.get('/system/*', async (request, reply) => {
    const file = files.get(request.url.split('?')[0] ?? '');
    if (!file) throw new HttpFailure(404, NOT_FOUND);
    return reply.type(file.mediaType).send(Buffer.from(file.data));
  });

  for (const input of options.accounts ?? []) addAccount(input);

  await app.listen({ host: '127.0.0.1', port: 0 });
  let connections = 0;
  app.server.on('connection', () => (connections += 1));
  const address = app.server.address() as AddressInfo;
  base = `http://127.0.0.1:${address.port}`;
  domain = domain || `127.0.0.1:${address.port}`;

  return {
    url: base,
    received,
    held,
    get statuses() {
      return [...statuses.values()];
    },
    get connections() {
      return connections;
    },
    get accounts() {
      return [...accounts.values()];
    },
    get media() {
      return [...media.values()];
    },
    get limits() {
      return { ...limits };
    },
    addAccount,
    setLimits(next) {
      Object.assign(limits, next);
    },
    inject(fault, injectOptions = {}) {
      faults.push({
        fault,
        remaining: injectOptions.times ?? 1,
        ...(injectOptions.path !== undefined ? { path: injectOptions.path } : {}),
        ...(injectOptions.method !== undefined ? { method: injectOptions.method } : {}),
      });
    },
    clearFaults() {
      faults.length = 0;
    },
    async stop() {
      await app.close();
    },
  };
}

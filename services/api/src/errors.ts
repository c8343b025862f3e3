/**
 * One error handler for every route: the status says what kind of problem it is, the body says
 * what to do about it, and nothing internal (stack, SQL, file paths) ever leaves the process.
 *
 *   { "error": { "code": "…", "message": "…", "details": … }, "requestId": "…" }
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConflictError, InputError, NotFoundError, SunsetError } from '@sunset/core';
import {
  ApprovalError,
  CapReferenceError,
  IdempotencyConflictError,
  NoPlanError,
  NotAcceptedError,
} from '@sunset/engine/outbox';
import { StoreUnavailableError } from '@sunset/store';

/** A refusal a route decides on itself, with its status. */
export class HttpError extends SunsetError {
  readonly status: number;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(code, message);
    this.status = status;
    this.details = details;
  }
}

export function errorBody(request: FastifyRequest, code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details !== undefined ? { details } : {}) }, requestId: request.id };
}

/** A 429 that says when to come back, in the header and the message alike. */
export function sendTooMany(
  request: FastifyRequest,
  reply: FastifyReply,
  waitSeconds: number,
  code: string,
  message: string,
) {
  return reply
    .status(429)
    .header('retry-after', String(waitSeconds))
    .send(errorBody(request, code, message));
}

/**
 * The domain's refusals (core's and the engine's), each with its status; the code is the error's
 * own. Routes throw these rather than choosing a status themselves.
 */
function classifyDomain(err: Error): { status: number; code: string; message: string } | undefined {
  if (err instanceof NotFoundError) return { status: 404, code: err.code, message: err.message };
  if (err instanceof ConflictError) return { status: 409, code: err.code, message: err.message };
  if (err instanceof CapReferenceError) return { status: 422, code: err.code, message: err.message };
  return undefined;
}

// Validation params that hold a name taken from the body rather than from the schema.
const BODY_PARAMS = new Set(['additionalProperty', 'propertyName']);

/**
 * The validator's findings without anything the body said: where (the path of the schema's own
 * names and indexes), which rule, and the rule's own limits; a stray property is not named.
 */
function validationDetails(validation: unknown): unknown {
  if (!Array.isArray(validation)) return undefined;
  return validation.map((finding: Record<string, unknown>) => {
    const params = Object.fromEntries(
      Object.entries((finding['params'] as Record<string, unknown> | undefined) ?? {}).filter(
        ([key]) => !BODY_PARAMS.has(key),
      ),
    );
    return {
      instancePath: finding['instancePath'],
      keyword: finding['keyword'],
      message: finding['message'],
      params,
    };
  });
}

function classify(
  err: FastifyError | Error,
  contentType: string,
): {
  status: number;
  code: string;
  message: string;
  details?: unknown;
} {
  if (err instanceof HttpError)
    return { status: err.status, code: err.code, message: err.message, details: err.details };
  const fe = err as FastifyError & { validation?: unknown; validationContext?: string };
  if (fe.validation) {
    return {
      status: 400,
      code: 'bad-request',
      message: fe.message,
      details: validationDetails(fe.validation),
    };
  }
  if (err instanceof NotAcceptedError) return { status: 503, code: 'not-accepted', message: err.message };
  if (err instanceof StoreUnavailableError) {
    return {
      status: 503,
      code: 'store-unavailable',
      message: 'the store is not answering; nothing was accepted, try again shortly',
    };
  }
  const domain = classifyDomain(err);
  if (domain) return domain;
  if (err instanceof ApprovalError) return { status: 403, code: 'approval', message: err.message };
  if (err instanceof IdempotencyConflictError)
    return { status: 409, code: 'idempotency-key-reused', message: err.message };
  if (err instanceof NoPlanError) return { status: 409, code: 'no-plan', message: err.message };
  if (err instanceof InputError) {
    const problems = (err as InputError & { problems?: unknown }).problems;
    return {
      status: 422,
      code: 'invalid',
      message: err.message,
      ...(problems !== undefined ? { details: problems } : {}),
    };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      status: 415,
      code: 'unsupported-media-type',
      message: `this route does not take the Content-Type ${contentType || '(none)'}`,
    };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's own refusals (body too large, bad JSON, unsupported type): their words are safe.
    return { status: fe.statusCode, code: (fe.code ?? 'bad-request').toLowerCase(), message: fe.message };
  }
  return { status: 500, code: 'internal', message: 'internal error; the request id is in the server log' };
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const c = classify(err, String(request.headers['content-type'] ?? '').split(';')[0] ?? '');
    if (c.status >= 500 && c.status !== 503) request.log.error({ err }, 'request failed');
    else request.log.info({ status: c.status, code: c.code, msg: c.message }, 'request refused');
    if (c.status === 503) void reply.header('retry-after', '5');
    return reply.status(c.status).send(errorBody(request, c.code, c.message, c.details));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(errorBody(request, 'not-found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}

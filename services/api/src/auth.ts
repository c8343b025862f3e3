/**
 * Bearer tokens: each belongs to one organisation and has one role. A request without a token,
 * or with an unknown or revoked one, gets 401; the right token for another role or another
 * organisation gets 403. The token is checked first: a valid one always goes through. Requests
 * without a valid one are counted per client address (SignInLimiter): past the limit, 429 until
 * the address's window ends, and one audit entry per address and window sums them up.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import { hashToken, looksLikeToken, shareInFlight } from '@sunset/core';
import type { ApiToken, Store, TokenRole } from '@sunset/store';
import { errorBody, sendTooMany } from './errors.ts';
import { SignInLimiter } from './sign-in-limiter.ts';

export interface Principal {
  token: ApiToken;
  /** `token:<name>`: what the audit log names as the actor. */
  actor: string;
  /** The person holding the token: second-person approval compares persons, not tokens. */
  person: string;
  organisationId: string;
  /**
   * The organisation's latest plan version, read with the token (undefined: none applied): the
   * request is judged by the plan in force when it arrived, with no second read.
   */
  planVersion: number | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyInstance {
    /** An onRequest hook admitting the given roles (admin is always admitted). */
    requireRole(...roles: TokenRole[]): (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

/** The principal of an authenticated request (routes behind requireRole always have one). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route is missing its requireRole hook');
  return request.principal;
}

export interface AuthOptions {
  store: Store;
  /** Failed sign-ins allowed per client address and window before 429. */
  failuresPerWindow: number;
  /** The limiter's window, and how often failures reach the audit log (default a minute). */
  windowMs?: number;
  /** Client addresses tracked at most (default 10,000). */
  maxAddresses?: number;
}

/** How often a token's "last used" time is written while it is in use. */
const TOUCH_EVERY_MS = 60_000;

export const authPlugin = fp<AuthOptions>(
  async (app: FastifyInstance, options: AuthOptions) => {
    const limiter = new SignInLimiter({
      limit: options.failuresPerWindow,
      windowMs: options.windowMs ?? 60_000,
      maxAddresses: options.maxAddresses ?? 10_000,
      write: (summary) =>
        options.store.audit
          .append({
            actor: 'anonymous',
            action: 'auth.failed',
            requestId: summary.requestId,
            outcome: 'refused',
            error: `${summary.count} failed sign-in${summary.count === 1 ? '' : 's'} from ${summary.ip}`,
            details: {
              ip: summary.ip,
              count: summary.count,
              first: summary.first.toISOString(),
              last: summary.last.toISOString(),
              routes: summary.routes,
              reasons: summary.reasons,
              ...(summary.sample ? { sample: summary.sample } : {}),
            },
          })
          .catch((err: unknown) => app.log.warn({ err }, 'could not record failed sign-ins')),
    });
    new Gauge({
      name: 'sunset_auth_failure_addresses',
      help: 'Client addresses the failed sign-in limiter tracks now (bounded)',
      registers: [app.metrics.registry],
      collect() {
        this.set(limiter.tracked);
      },
    });
    // Lookups of one token under way: requests arriving meanwhile share the answer instead of
    // each reading the same row (a busy crisis token sends many at once). Nothing is kept once
    // it is answered, so a revocation counts from the next lookup on.
    const findToken = shareInFlight((hash: string) => options.store.tokens.findByHashWithPlanVersion(hash));
    const touched = new Map<string, number>();
    const sweep = setInterval(
      () => {
        const now = Date.now();
        limiter.sweep(now);
        for (const [id, at] of touched) if (now - at >= TOUCH_EVERY_MS) touched.delete(id);
      },
      Math.max(50, Math.min(30_000, Math.floor((options.windowMs ?? 60_000) / 2))),
    );
    sweep.unref();
    // Graceful shutdown writes the windows still running: no failure goes unrecorded.
    app.addHook('onClose', async () => {
      clearInterval(sweep);
      await limiter.close();
    });

    const fail = async (request: FastifyRequest, reply: FastifyReply, message: string) => {
      const wait = limiter.fail({
        ip: request.ip,
        route: `${request.method} ${request.routeOptions.url ?? request.url}`,
        reason: message,
        requestId: request.id,
      });
      if (wait !== undefined) {
        return sendTooMany(
          request,
          reply,
          wait,
          'too-many-failures',
          `too many failed sign-ins from this address; try again in ${wait} s (a valid token is always let in)`,
        );
      }
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer realm="sunset"')
        .send(errorBody(request, 'unauthorized', message));
    };

    app.decorate(
      'requireRole',
      (...roles: TokenRole[]) =>
        async (request: FastifyRequest, reply: FastifyReply) => {
          const header = request.headers.authorization;
          if (!header) return fail(request, reply, 'no token: send Authorization: Bearer <token>');
          const m = /^Bearer\s+(\S+)$/i.exec(header);
          if (!m?.[1]) return fail(request, reply, 'the Authorization header must be "Bearer <token>"');
          if (!looksLikeToken(m[1])) return fail(request, reply, 'not a sunset token');
          const found = await findToken(hashToken(m[1]));
          if (!found || found.token.revokedAt) return fail(request, reply, 'unknown or revoked token');
          const { token } = found;
          if (token.role !== 'admin' && !roles.includes(token.role)) {
            return reply
              .status(403)
              .send(
                errorBody(
                  request,
                  'forbidden',
                  `${/^[aeiou]/.test(token.role) ? 'an' : 'a'} ${token.role} token cannot do this; it needs the role ${roles.join(' or ')}`,
                ),
              );
          }
          request.principal = {
            token,
            actor: `token:${token.name}`,
            person: token.person,
            organisationId: token.organisationId,
            planVersion: found.planVersion,
          };
          // "Last used" to the minute: one write per token and minute, not one per request (every
          // request of a busy token would otherwise queue on the same row).
          const now = Date.now();
          const last = Math.max(touched.get(token.id) ?? 0, token.lastUsedAt?.getTime() ?? 0);
          if (now - last >= TOUCH_EVERY_MS) {
            touched.set(token.id, now);
            void options.store.tokens.touch(token.id).catch(() => undefined);
          }
        },
    );
  },
  { name: 'sunset-auth', decorators: { fastify: ['metrics'] } },
);

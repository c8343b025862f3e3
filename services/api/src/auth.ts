/**
 * Bearer tokens: each belongs to one organisation and has one role. A request without a token,
 * or with an unknown or revoked one, gets 401; the right token for another role or another
 * organisation gets 403. Failed attempts are counted per IP: past the limit, 429 until the
 * minute is over, so that tokens cannot be guessed by trying.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hashToken, looksLikeToken, shareInFlight } from '@sunset/core';
import type { ApiToken, Store, TokenRole } from '@sunset/store';
import { errorBody } from './errors.ts';

export interface Principal {
  token: ApiToken;
  /** `token:<name>`: what the audit log names as the actor. */
  actor: string;
  /** The person holding the token: second-person approval compares persons, not tokens. */
  person: string;
  organisationId: string;
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
  failuresPerMinute: number;
}

/** How often a token's "last used" time is written while it is in use. */
const TOUCH_EVERY_MS = 60_000;

export const authPlugin = fp<AuthOptions>(
  async (app: FastifyInstance, options: AuthOptions) => {
    const failures = new Map<string, { count: number; until: number }>();
    // Lookups of one token under way: requests arriving meanwhile share the answer instead of
    // each reading the same row (a busy crisis token sends many at once). Nothing is kept once
    // it is answered, so a revocation counts from the next lookup on.
    const findToken = shareInFlight((hash: string) => options.store.tokens.findByHash(hash));
    const touched = new Map<string, number>();
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [ip, f] of failures) if (f.until <= now) failures.delete(ip);
      for (const [id, at] of touched) if (now - at >= TOUCH_EVERY_MS) touched.delete(id);
    }, 60_000);
    sweep.unref();
    app.addHook('onClose', async () => clearInterval(sweep));

    const fail = async (request: FastifyRequest, reply: FastifyReply, message: string) => {
      const now = Date.now();
      const f = failures.get(request.ip);
      const entry = f && f.until > now ? f : { count: 0, until: now + 60_000 };
      entry.count += 1;
      failures.set(request.ip, entry);
      if (entry.count <= options.failuresPerMinute) {
        await options.store.audit
          .append({
            actor: 'anonymous',
            action: 'auth.failed',
            requestId: request.id,
            outcome: 'refused',
            error: message,
            details: { ip: request.ip, method: request.method, route: request.routeOptions.url },
          })
          .catch((err: unknown) => request.log.warn({ err }, 'could not record a failed sign-in'));
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
          const limited = failures.get(request.ip);
          if (limited && limited.until > Date.now() && limited.count >= options.failuresPerMinute) {
            const seconds = Math.ceil((limited.until - Date.now()) / 1000);
            return reply
              .status(429)
              .header('retry-after', String(seconds))
              .send(
                errorBody(
                  request,
                  'too-many-failures',
                  `too many failed sign-ins from this address; try again in ${seconds} s`,
                ),
              );
          }
          const header = request.headers.authorization;
          if (!header) return fail(request, reply, 'no token: send Authorization: Bearer <token>');
          const m = /^Bearer\s+(\S+)$/i.exec(header);
          if (!m?.[1]) return fail(request, reply, 'the Authorization header must be "Bearer <token>"');
          if (!looksLikeToken(m[1])) return fail(request, reply, 'not a sunset token');
          const token = await findToken(hashToken(m[1]));
          if (!token || token.revokedAt) return fail(request, reply, 'unknown or revoked token');
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
  { name: 'sunset-auth' },
);

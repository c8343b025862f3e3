/**
 * GET /find/<org>: the organisation's public "find us" page, no token needed. It is built from
 * the applied plan's settings; an unknown organisation and one whose plan names no account get
 * the same 404, so the page says nothing about which organisations exist.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { findUsPolicy, renderFindUsPage, type FindUsPage } from '@sunset/assets';
import { NotFoundError } from '@sunset/core';
import { isPlanSettings } from '@sunset/plan';
import { Type } from 'typebox';
import { errorReplies } from '../schemas.ts';

const NOT_FOUND = 'there is no such page';

export async function findUsRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // Rendering draws a QR code per link: keep each organisation's page of its latest plan version
  // (one entry per organisation, not one per version: re-applied plans must not grow the process).
  const cache = new Map<string, { version: number; rendering: Promise<FindUsPage | undefined> }>();
  r.get(
    '/find/:org',
    {
      schema: {
        tags: ['audience'],
        summary: 'The public "find us" page of an organisation (HTML)',
        security: [],
        params: Type.Object({ org: Type.String() }),
        response: { 200: Type.String({ description: 'text/html' }), ...errorReplies(404) },
      },
    },
    async (request, reply) => {
      const { org } = request.params;
      if (org.length > 64 || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(org)) throw new NotFoundError(NOT_FOUND);
      const head = await app.store.plans.latestHead(org);
      if (!head) throw new NotFoundError(NOT_FOUND);
      let cached = cache.get(org);
      if (!cached || cached.version < head.version) {
        const entry = {
          version: head.version,
          rendering: (async () => {
            const latest = await app.store.plans.latest(org);
            return latest && isPlanSettings(latest.settings) ? renderFindUsPage(latest.settings) : undefined;
          })(),
        };
        cached = entry;
        cache.set(org, entry);
        entry.rendering.catch(() => {
          if (cache.get(org) === entry) cache.delete(org);
        });
      }
      const page = await cached.rendering;
      if (!page) throw new NotFoundError(NOT_FOUND);
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('content-security-policy', findUsPolicy(page.styleSource))
        .header('cache-control', 'public, max-age=300')
        .send(page.html);
    },
  );
}

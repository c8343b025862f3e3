/** The dormant profile's generated images of the applied plan, as the worker will upload them. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { renderPlanImages, type RenderedImage } from '@sunset/assets';
import { NotFoundError } from '@sunset/core';
import { validatePlan } from '@sunset/plan';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { errorReplies, NetworkName } from '../schemas.ts';

export async function assetRoutes(app: FastifyInstance, options: { plansDir?: string } = {}) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // Rendering takes a second or so: keep the images of each plan version.
  const cache = new Map<string, Promise<RenderedImage[]>>();
  const imagesOf = async (organisationId: string) => {
    const latest = await app.store.plans.latest(organisationId);
    if (!latest) throw new NotFoundError(`${organisationId} has no applied plan yet`, 'no-plan');
    const key = `${organisationId}@${latest.version}`;
    let images = cache.get(key);
    if (!images) {
      const result = validatePlan(latest.yaml, {
        file: latest.sourceName,
        baseDir: options.plansDir ?? process.cwd(),
      });
      if (!result.plan)
        throw new HttpError(409, 'plan-unreadable', 'the applied plan no longer validates here');
      images = renderPlanImages(result.plan);
      cache.set(key, images);
      images.catch(() => cache.delete(key));
    }
    return images;
  };

  r.get(
    '/assets',
    {
      onRequest: app.requireRole('planner', 'editor', 'crisis', 'auditor'),
      schema: {
        tags: ['assets'],
        summary: 'The generated profile images of the applied plan',
        response: {
          200: Type.Object({
            images: Type.Array(
              Type.Object({
                network: NetworkName,
                slot: Type.String(),
                width: Type.Integer(),
                height: Type.Integer(),
                bytes: Type.Integer(),
                mediaType: Type.String(),
                url: Type.String(),
              }),
            ),
          }),
          ...errorReplies(401, 403, 404),
        },
      },
    },
    async (request) => {
      const images = await imagesOf(principalOf(request).organisationId);
      return {
        images: images.map((im) => ({
          network: im.network,
          slot: im.slot,
          width: im.width,
          height: im.height,
          bytes: im.data.byteLength,
          mediaType: im.mediaType,
          url: `/v1/assets/${im.network}/${im.slot}`,
        })),
      };
    },
  );

  r.get(
    '/assets/:network/:slot',
    {
      onRequest: app.requireRole('planner', 'editor', 'crisis', 'auditor'),
      schema: {
        tags: ['assets'],
        summary: 'One generated image (PNG or JPEG)',
        params: Type.Object({
          network: NetworkName,
          slot: Type.Union([Type.Literal('banner'), Type.Literal('avatar')]),
        }),
        response: { ...errorReplies(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const images = await imagesOf(principalOf(request).organisationId);
      const image = images.find(
        (im) => im.network === request.params.network && im.slot === request.params.slot,
      );
      if (!image)
        throw new NotFoundError(`the plan generates no ${request.params.slot} for ${request.params.network}`);
      return reply
        .type(image.mediaType)
        .header('cache-control', 'private, max-age=300')
        .send(Buffer.from(image.data) as never);
    },
  );
}

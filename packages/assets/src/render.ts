/** The package's entry points: one profile image, or every generated image a plan asks for. */
import { renderAsync } from '@resvg/resvg-js';
import { InputError, NETWORK_LABELS, NETWORKS, isNetwork, type Network } from '@sunset/core';
import { compile, placeholderValues, sunsetOf, type Plan, type PlanDocument } from '@sunset/plan';
import sharp from 'sharp';
import { avatarFromPictureSvg, avatarMarkSvg } from './avatar.ts';
import { bannerSvg } from './banner.ts';
import { parseColour } from './colour.ts';
import { encodeWithin } from './encode.ts';
import { RESVG_FONT } from './font.ts';
import { PROFILE_IMAGE_SIZES, PROFILE_IMAGE_SLOTS, type ProfileImageSlot } from './sizes.ts';

export interface ProfileImageRequest {
  network: Network;
  slot: ProfileImageSlot;
  spec: { generator: 'flat-ecg' | 'flat-ecg-avatar'; caption?: string; colour?: string };
  organisationName: string;
  /** e.g. "Bluesky @tours.fr · Mastodon @ville@social.tours.fr" */
  whereToFind?: string;
  /** The network's current avatar (for the desaturated avatar). */
  current?: { data: Uint8Array; mediaType: string };
}

export interface RenderedImage {
  data: Uint8Array;
  mediaType: 'image/png' | 'image/jpeg';
  width: number;
  height: number;
  network: Network;
  slot: ProfileImageSlot;
}

const GENERATOR_FOR_SLOT: Record<ProfileImageSlot, ProfileImageRequest['spec']['generator']> = {
  banner: 'flat-ecg',
  avatar: 'flat-ecg-avatar',
};

function check(request: ProfileImageRequest): void {
  if (!isNetwork(request.network))
    throw new InputError(`unknown network "${String(request.network)}" (expected ${NETWORKS.join(', ')})`);
  if (!(PROFILE_IMAGE_SLOTS as readonly string[]).includes(request.slot))
    throw new InputError(`unknown profile image slot "${String(request.slot)}" (expected banner or avatar)`);
  const generator: string = request.spec.generator;
  const expected = GENERATOR_FOR_SLOT[request.slot];
  if (generator !== expected) {
    const known = Object.values(GENERATOR_FOR_SLOT).includes(generator as typeof expected);
    throw new InputError(
      known
        ? `generator "${generator}" does not draw ${request.slot}s: use "${expected}" for the ${request.slot}`
        : `unknown image generator "${generator}" (expected "flat-ecg" for banners, "flat-ecg-avatar" for avatars)`,
    );
  }
  if (request.spec.colour !== undefined) parseColour(request.spec.colour);
}

/** The current picture, cropped square to the output size and turned grey, as PNG for resvg. */
async function greyPicture(current: { data: Uint8Array; mediaType: string }, size: number): Promise<Buffer> {
  try {
    return await sharp(current.data)
      .rotate() // honour EXIF orientation, as the networks do when they show it
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .flatten({ background: '#808080' })
      .greyscale()
      .png()
      .toBuffer();
  } catch (err) {
    throw new InputError(`the current avatar (${current.mediaType}) could not be read as an image`, {
      cause: err,
    });
  }
}

export async function renderProfileImage(request: ProfileImageRequest): Promise<RenderedImage> {
  check(request);
  const { network, slot, spec } = request;
  const size = PROFILE_IMAGE_SIZES[network][slot];
  let svg: string;
  let greyscale = false;
  if (slot === 'banner') {
    svg = bannerSvg(
      {
        organisationName: request.organisationName,
        ...(spec.caption !== undefined ? { caption: spec.caption } : {}),
        ...(request.whereToFind !== undefined ? { whereToFind: request.whereToFind } : {}),
        ...(spec.colour !== undefined ? { colour: spec.colour } : {}),
      },
      size,
    );
  } else if (request.current) {
    svg = avatarFromPictureSvg(await greyPicture(request.current, size.width), size);
    greyscale = true;
  } else {
    svg = avatarMarkSvg(spec.colour, size);
  }
  const rendered = await renderAsync(svg, {
    font: RESVG_FONT,
    fitTo: { mode: 'original' },
    shapeRendering: 2,
    textRendering: 2,
    imageRendering: 0,
    logLevel: 'off',
  });
  const encoded = await encodeWithin(new Uint8Array(rendered.asPng()), size.maxBytes, {
    greyscale,
    label: `${NETWORK_LABELS[network]} ${slot}`,
  });
  return { ...encoded, width: size.width, height: size.height, network, slot };
}

/** "Bluesky @handle · Mastodon @acct", the handles written as the plan's posts write them. */
export function whereToFind(document: PlanDocument): string {
  const values = placeholderValues(document, sunsetOf(document));
  const parts: string[] = [];
  if (values['bluesky.handle']) parts.push(`${NETWORK_LABELS.bluesky} ${values['bluesky.handle']}`);
  if (values['mastodon.handle']) parts.push(`${NETWORK_LABELS.mastodon} ${values['mastodon.handle']}`);
  return parts.join(' · ');
}

/** The images `renderPlanImages` would render, in its order, without rendering them. */
export function plannedImages(plan: Plan): ProfileImageRequest[] {
  const compiled = compile(plan);
  const where = whereToFind(plan.document);
  const requests: ProfileImageRequest[] = [];
  for (const action of compiled.actions) {
    if (action.kind !== 'profile') continue;
    for (const slot of PROFILE_IMAGE_SLOTS) {
      const spec = action.profile[slot];
      if (spec.kind !== 'generate') continue;
      requests.push({
        network: action.network,
        slot,
        spec: {
          generator: spec.generator,
          ...(spec.caption !== undefined ? { caption: spec.caption } : {}),
          ...(spec.colour !== undefined ? { colour: spec.colour } : {}),
        },
        organisationName: compiled.organisationName,
        ...(where ? { whereToFind: where } : {}),
      });
    }
  }
  return requests;
}

export async function renderPlanImages(plan: Plan): Promise<RenderedImage[]> {
  const images: RenderedImage[] = [];
  // One at a time: each render already uses a thread of its own, and memory stays flat.
  for (const request of plannedImages(plan)) images.push(await renderProfileImage(request));
  return images;
}

/** The file name the CLI and the engine give an image: "<network>-<slot>.png|jpg". */
export function imageFileName(image: Pick<RenderedImage, 'network' | 'slot' | 'mediaType'>): string {
  return `${image.network}-${image.slot}.${image.mediaType === 'image/png' ? 'png' : 'jpg'}`;
}

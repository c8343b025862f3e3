import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { InputError, NETWORKS } from '@sunset/core';
import { readPlanFile } from '@sunset/plan';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BANNER_TEXT_COLUMN, BANNER_VIEW, layoutBanner } from './banner.ts';
import { paletteFor } from './colour.ts';
import { ImageTooLargeError, encodeWithin } from './encode.ts';
import { RESVG_FONT, fontMetrics } from './font.ts';
import {
  PROFILE_IMAGE_SIZES,
  PROFILE_IMAGE_SLOTS,
  imageFileName,
  renderPlanImages,
  renderProfileImage,
  whereToFind,
  type ProfileImageRequest,
} from './index.ts';
import { svgDocument, textLines } from './svg.ts';

const WHERE = 'Bluesky @tours.fr · Mastodon @ville@social.tours.fr';
const CAPTION_200 =
  'Ce compte est en veille depuis le 20 janvier : retrouvez toute l’actualité de la Ville, les alertes « météo » ' +
  'et les travaux sur Bluesky et Mastodon — merci à toutes et à tous, à très bientôt là-bas !';

function banner(
  network: ProfileImageRequest['network'],
  caption?: string,
  extra: Partial<ProfileImageRequest> = {},
) {
  return renderProfileImage({
    network,
    slot: 'banner',
    spec: { generator: 'flat-ecg', ...(caption !== undefined ? { caption } : {}) },
    organisationName: 'Ville de Tours',
    whereToFind: WHERE,
    ...extra,
  });
}

async function rgba(data: Uint8Array) {
  const { data: pixels, info } = await sharp(data)
    .toColourspace('srgb')
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { pixels, width: info.width, height: info.height };
}

/** A colourful, noisy photo-like picture, as a network's current avatar might be. */
async function colourfulPicture(): Promise<Uint8Array> {
  const noise = await sharp({
    create: {
      width: 1200,
      height: 900,
      channels: 3,
      background: '#000000',
      noise: { type: 'gaussian', mean: 128, sigma: 70 },
    },
  })
    .png()
    .toBuffer();
  const stripes =
    '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="900">' +
    '<rect width="400" height="900" fill="#ff0000" fill-opacity="0.6"/>' +
    '<rect x="400" width="400" height="900" fill="#00ff00" fill-opacity="0.6"/>' +
    '<rect x="800" width="400" height="900" fill="#0000ff" fill-opacity="0.6"/></svg>';
  return new Uint8Array(
    await sharp(noise)
      .composite([{ input: Buffer.from(stripes) }])
      .jpeg({ quality: 95 })
      .toBuffer(),
  );
}

describe('sizes and byte limits', () => {
  const cases = NETWORKS.flatMap((network) => PROFILE_IMAGE_SLOTS.map((slot) => [network, slot] as const));

  it.each(cases)('%s %s has exactly its size and is within its byte limit', async (network, slot) => {
    const image = await renderProfileImage({
      network,
      slot,
      spec:
        slot === 'banner'
          ? { generator: 'flat-ecg', caption: 'Compte en veille' }
          : { generator: 'flat-ecg-avatar' },
      organisationName: 'Ville de Tours',
      whereToFind: WHERE,
    });
    const limit = PROFILE_IMAGE_SIZES[network][slot];
    const meta = await sharp(image.data).metadata();
    expect([meta.width, meta.height]).toEqual([limit.width, limit.height]);
    expect([image.width, image.height]).toEqual([limit.width, limit.height]);
    expect(image.data.byteLength).toBeLessThanOrEqual(limit.maxBytes);
    expect(meta.format).toBe(image.mediaType === 'image/png' ? 'png' : 'jpeg');
    expect(image).toMatchObject({ network, slot });
  });

  it('keeps the desaturated avatar of a large noisy picture within every limit, as JPEG when PNG is too big', async () => {
    const current = { data: await colourfulPicture(), mediaType: 'image/jpeg' };
    for (const network of NETWORKS) {
      const image = await renderProfileImage({
        network,
        slot: 'avatar',
        spec: { generator: 'flat-ecg-avatar' },
        organisationName: 'Ville de Tours',
        current,
      });
      const limit = PROFILE_IMAGE_SIZES[network].avatar;
      const meta = await sharp(image.data).metadata();
      expect([meta.width, meta.height]).toEqual([limit.width, limit.height]);
      expect(image.data.byteLength).toBeLessThanOrEqual(limit.maxBytes);
      expect(meta.format).toBe(image.mediaType === 'image/png' ? 'png' : 'jpeg');
    }
  });

  it('steps JPEG quality down until the image fits, and says when nothing fits', async () => {
    const { data: png } = await banner('x', 'Compte en veille');
    const small = await encodeWithin(png, 60_000, { label: 'test' });
    expect(small.mediaType).toBe('image/jpeg');
    expect(small.data.byteLength).toBeLessThanOrEqual(60_000);
    expect((await sharp(small.data).metadata()).format).toBe('jpeg');
    expect(await encodeWithin(png, 60_000, { label: 'test' })).toEqual(small);
    await expect(encodeWithin(png, 2_000, { label: 'X banner' })).rejects.toThrow(ImageTooLargeError);
    await expect(encodeWithin(png, 2_000, { label: 'X banner' })).rejects.toThrow(
      /X banner: .* over the limit of 2000/,
    );
  });
});

describe('determinism', () => {
  it('gives the same bytes for the same request', async () => {
    const a = await banner('bluesky', 'Compte en veille');
    const b = await banner('bluesky', 'Compte en veille');
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    const current = { data: await colourfulPicture(), mediaType: 'image/jpeg' };
    const avatar = () =>
      renderProfileImage({
        network: 'bluesky',
        slot: 'avatar',
        spec: { generator: 'flat-ecg-avatar' },
        organisationName: 'T',
        current,
      });
    const [c, d] = [await avatar(), await avatar()];
    expect(Buffer.from(c.data).equals(Buffer.from(d.data))).toBe(true);
  });
});

describe('caption layout', () => {
  it('wraps or shrinks a 200-character caption inside the text column', () => {
    expect([...CAPTION_200].length).toBe(200);
    const layout = layoutBanner({
      organisationName: 'Ville de Tours',
      caption: CAPTION_200,
      whereToFind: WHERE,
    });
    const caption = layout.caption;
    expect(caption.lines.length).toBeGreaterThan(2);
    expect(caption.lines.map((l) => l.text).join(' ')).toContain('là-bas');
    for (const l of caption.lines) expect(l.text).not.toMatch(/^[»:;!?]|«$/);
    for (const l of [...caption.lines, ...layout.name.lines]) {
      expect(l.left).toBeGreaterThanOrEqual(BANNER_TEXT_COLUMN.left);
      expect(l.right).toBeLessThanOrEqual(BANNER_TEXT_COLUMN.right);
    }
    for (const t of [caption, layout.name])
      for (const l of t.lines) {
        expect(l.top).toBeGreaterThanOrEqual(t.box.y);
        expect(l.bottom).toBeLessThanOrEqual(t.box.y + t.box.height);
      }
  });

  it('computes line widths that resvg agrees with', () => {
    const layout = layoutBanner({
      organisationName: 'Région Bretagne',
      caption: CAPTION_200,
      whereToFind: WHERE,
    });
    for (const line of layout.caption.lines) {
      const svg = svgDocument(BANNER_VIEW, BANNER_VIEW, textLines([line], '#ffffff'));
      const bbox = new Resvg(svg, { font: RESVG_FONT }).getBBox();
      expect(bbox).toBeDefined();
      if (!bbox) continue;
      expect(bbox.x).toBeGreaterThanOrEqual(line.left - 1);
      expect(bbox.x + bbox.width).toBeLessThanOrEqual(line.right + 1);
      // The measure is an upper bound, and a close one: ink fills most of the advance width.
      expect(bbox.width).toBeGreaterThan(line.width * 0.9);
      expect(bbox.y).toBeGreaterThanOrEqual(line.top - 1);
      expect(bbox.y + bbox.height).toBeLessThanOrEqual(line.bottom + 1);
    }
  });

  it('draws nothing of a 200-character caption in the banner margins (read from the pixels)', async () => {
    const full = await rgba((await banner('x', CAPTION_200)).data);
    const blank = await rgba((await banner('x', '', { organisationName: '', whereToFind: '' })).data);
    expect(full.width).toBe(BANNER_VIEW.width); // X banners are drawn 1:1, so units are pixels
    const text = paletteFor().text;
    const [tr, tg, tb] = [1, 3, 5].map((i) => parseInt(text.slice(i, i + 2), 16)) as [number, number, number];
    const inMargin = (x: number, y: number) =>
      x < BANNER_TEXT_COLUMN.left - 8 || x >= BANNER_TEXT_COLUMN.right + 8 || y < 32 || y >= 468;
    let checked = 0;
    let differing = 0;
    let textColoured = 0;
    for (let y = 0; y < full.height; y++)
      for (let x = 0; x < full.width; x++) {
        if (!inMargin(x, y)) continue;
        const i = (y * full.width + x) * 4;
        checked++;
        if (full.pixels.readUInt32BE(i) !== blank.pixels.readUInt32BE(i)) differing++;
        const [r, g, b] = [full.pixels[i] ?? 0, full.pixels[i + 1] ?? 0, full.pixels[i + 2] ?? 0];
        if (Math.abs(r - tr) + Math.abs(g - tg) + Math.abs(b - tb) < 120) textColoured++;
      }
    expect(checked).toBeGreaterThan(200_000);
    expect(differing).toBe(0);
    expect(textColoured).toBe(0);
    // …and the text is there, inside the column.
    let inside = 0;
    for (let i = 0; i < full.pixels.length; i += 4)
      if (full.pixels.readUInt32BE(i) !== blank.pixels.readUInt32BE(i)) inside++;
    expect(inside).toBeGreaterThan(10_000);
  });

  it('shortens with an ellipsis, still inside the frame, a caption too long for any legible size', () => {
    const layout = layoutBanner({
      organisationName: 'Ville de Tours',
      caption: CAPTION_200.repeat(4),
      whereToFind: WHERE,
    });
    expect(layout.caption.lines.some((l) => l.text.endsWith('…'))).toBe(true);
    for (const l of layout.caption.lines) {
      expect(l.left).toBeGreaterThanOrEqual(BANNER_TEXT_COLUMN.left);
      expect(l.right).toBeLessThanOrEqual(BANNER_TEXT_COLUMN.right);
      expect(l.bottom).toBeLessThanOrEqual(layout.caption.box.y + layout.caption.box.height);
    }
  });
});

describe('French text', () => {
  const pairs = [
    ['é', 'e'],
    ['è', 'e'],
    ['à', 'a'],
    ['ç', 'c'],
    ['ô', 'o'],
    ['«', '<'],
    ['»', '>'],
    ['’', "'"],
    ['—', '-'],
  ] as const;

  it('has a glyph in the shipped font for every accent and French punctuation mark', () => {
    for (const weight of ['regular', 'bold'] as const) {
      const m = fontMetrics(weight);
      for (const [ch] of pairs) expect(m.glyphOf(ch.codePointAt(0) ?? 0), `${ch} (${weight})`).not.toBe(0);
    }
  });

  it.each(pairs)('draws "%s", and not as "%s" or as nothing', async (accented, plain) => {
    const render = async (caption: string) =>
      (await rgba((await banner('x', caption, { organisationName: '', whereToFind: '' })).data)).pixels;
    const [a, b, none] = [await render(accented), await render(plain), await render('')];
    expect(a.equals(b)).toBe(false);
    expect(a.equals(none)).toBe(false);
  });
});

describe('avatar', () => {
  it('turns the current picture grey: R = G = B in every pixel', async () => {
    const current = { data: await colourfulPicture(), mediaType: 'image/jpeg' };
    for (const network of NETWORKS) {
      const image = await renderProfileImage({
        network,
        slot: 'avatar',
        spec: { generator: 'flat-ecg-avatar', colour: '#00435c' },
        organisationName: 'Ville de Tours',
        current,
      });
      const { pixels } = await rgba(image.data);
      let coloured = 0;
      const distinct = new Set<number>();
      for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i] !== pixels[i + 1] || pixels[i + 1] !== pixels[i + 2]) coloured++;
        distinct.add(pixels[i] ?? 0);
      }
      expect(coloured, network).toBe(0);
      // Still the picture, not a flat fill.
      expect(distinct.size).toBeGreaterThan(50);
    }
  });

  it('draws the flat-ECG mark on the plan colour when there is no picture', async () => {
    const image = await renderProfileImage({
      network: 'x',
      slot: 'avatar',
      spec: { generator: 'flat-ecg-avatar', colour: '#7a1f3d' },
      organisationName: 'Ville de Tours',
    });
    const { pixels, width } = await rgba(image.data);
    // Near a corner: the colour under the vignette; on the trace (y = 200): the green line.
    const corner = (20 * width + 200) * 4;
    expect(pixels[corner] ?? 0).toBeGreaterThan(pixels[corner + 1] ?? 0);
    const onTrace = (200 * width + 250) * 4;
    expect(pixels[onTrace + 1] ?? 0).toBeGreaterThan(180);
  });

  it('reports a current picture that is not an image', async () => {
    await expect(
      renderProfileImage({
        network: 'x',
        slot: 'avatar',
        spec: { generator: 'flat-ecg-avatar' },
        organisationName: 'T',
        current: { data: new TextEncoder().encode('not an image'), mediaType: 'image/png' },
      }),
    ).rejects.toThrow(/current avatar \(image\/png\) could not be read/);
  });
});

describe('bad requests', () => {
  it('refuses a colour that is not #rrggbb', async () => {
    const r = banner('x', 'Compte en veille', { spec: { generator: 'flat-ecg', colour: 'blue' } });
    await expect(r).rejects.toThrow(InputError);
    await expect(banner('x', 'x', { spec: { generator: 'flat-ecg', colour: '#12345' } })).rejects.toThrow(
      /colour "#12345" is not a colour of the form "#rrggbb"/,
    );
  });

  it('refuses an unknown generator, and a generator for the other slot', async () => {
    const unknown = { generator: 'sine-wave' } as unknown as ProfileImageRequest['spec'];
    await expect(banner('x', undefined, { spec: unknown })).rejects.toThrow(
      /unknown image generator "sine-wave"/,
    );
    await expect(
      renderProfileImage({
        network: 'x',
        slot: 'avatar',
        spec: { generator: 'flat-ecg' },
        organisationName: 'T',
      }),
    ).rejects.toThrow(/generator "flat-ecg" does not draw avatars: use "flat-ecg-avatar"/);
  });

  it('draws a light colour in dark ink', () => {
    expect(paletteFor('#f5f0e6').text).toBe('#0d1417');
    expect(paletteFor('#00435c').text).toBe('#f4f7f8');
  });
});

describe('plans', () => {
  const bretagne = fileURLToPath(new URL('../../../config/plans/region-bretagne.yaml', import.meta.url));

  it('says where to find the organisation, from the plan', () => {
    const r = readPlanFile(bretagne);
    expect(r.plan).toBeDefined();
    expect(whereToFind(r.plan!.document)).toBe(
      'Bluesky @bretagne.bzh · Mastodon @region@social.bretagne.bzh',
    );
  });

  it('renders every generated image of the plan', async () => {
    const r = readPlanFile(bretagne);
    const images = await renderPlanImages(r.plan!);
    expect(images.map(imageFileName)).toEqual(['x-banner.png', 'x-avatar.png']);
    for (const image of images) {
      const size = PROFILE_IMAGE_SIZES[image.network][image.slot];
      expect(image.data.byteLength).toBeLessThanOrEqual(size.maxBytes);
    }
  });
});
